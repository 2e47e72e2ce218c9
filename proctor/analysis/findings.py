"""What one frame shows (PURE dataclasses). Every finding is three-way: present, absent or uncertain with a
reason, so a detector that could not see is never reported as "no face" or "looking away".

The JSON form (`as_dict`) is stored per frame by the web app; `from_dict` accepts older stored forms (fields
added later take their "not measured" defaults), so stored findings stay readable when this module grows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class Tri(StrEnum):
    """A finding's state."""

    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Finding:
    """One three-way finding with its reason (why uncertain, or the measured value behind the verdict)."""

    state: Tri
    reason: str = ""

    @classmethod
    def present(cls, reason: str = "") -> Finding:
        """The thing is there."""
        return cls(Tri.PRESENT, reason)

    @classmethod
    def absent(cls, reason: str = "") -> Finding:
        """The thing is not there (and the detector could see)."""
        return cls(Tri.ABSENT, reason)

    @classmethod
    def uncertain(cls, reason: str) -> Finding:
        """The detector could not tell; the reason says why."""
        return cls(Tri.UNCERTAIN, reason)

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"state": self.state.value, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, str] | None, default_reason: str = "not measured") -> Finding:
        """Rebuild from `as_dict()`; a missing finding is uncertain."""
        if not data:
            return cls.uncertain(default_reason)
        try:
            return cls(Tri(data["state"]), data.get("reason", ""))
        except (KeyError, ValueError) as err:
            raise FindingsFormatError(f"finding {data!r}: expected state present/absent/uncertain") from err


class FindingsFormatError(ValueError):
    """A stored findings object that cannot be read back."""


@dataclass(frozen=True)
class FaceBox:
    """A detected face in the frame's pixels, with the detector's score."""

    x: int
    y: int
    width: int
    height: int
    score: float


@dataclass(frozen=True)
class Quality:
    """Image quality: mean brightness (0-255), contrast (SD of grey levels) and sharpness, the variance of the
    Laplacian (the usual blur measure: low = blurred or featureless).

    `usable` is absent when the camera looks covered or black, uncertain when too dark or blurred to judge;
    `covered` is present when the view is blocked (dark and without texture).
    """

    brightness: float
    contrast: float
    sharpness: float
    usable: Finding
    covered: Finding = field(default_factory=lambda: Finding.uncertain("not measured"))

    @property
    def blur(self) -> float:
        """Variance of the Laplacian (same as `sharpness`; named for what it detects)."""
        return self.sharpness


@dataclass(frozen=True)
class EyeGaze:
    """One eye: iris position between the eye corners (x, 0 = the corner on the image's left, 1 = the other
    corner) and between the lids (y, 0 = upper lid), and how open the eye is (lid gap / eye width)."""

    x: float
    y: float
    openness: float


@dataclass
class FrameFindings:
    """Everything measured on one frame at time t (seconds).

    Angles are degrees: yaw positive = the face turns towards the image's right, pitch positive = looking up.
    Gaze ratios are in image terms ("left" = towards the image's left), 0.5 = iris centred in the eye.
    """

    t: float
    quality: Quality
    faces: list[FaceBox] = field(default_factory=list)  # largest first
    face: Finding = field(default_factory=lambda: Finding.uncertain("not analysed"))
    multiple_faces: Finding = field(default_factory=lambda: Finding.uncertain("not analysed"))
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    pose: Finding = field(default_factory=lambda: Finding.uncertain("no face"))  # present = angles measured
    gaze_x: float | None = None  # mean of the open eyes
    gaze_y: float | None = None
    gaze_left: EyeGaze | None = None  # the eye on the image's left
    gaze_right: EyeGaze | None = None
    gaze: Finding = field(default_factory=lambda: Finding.uncertain("no face"))  # present = measured
    gaze_direction: str | None = None  # centre/left/right/up/down against a generic centre (no baseline)
    gaze_off_centre: Finding = field(default_factory=lambda: Finding.uncertain("no face"))
    identity: Finding = field(default_factory=lambda: Finding.uncertain("no enrolment photo"))
    identity_similarity: float | None = None  # 0..1 against the enrolment photo

    @property
    def face_count(self) -> int:
        """Number of faces detected."""
        return len(self.faces)

    def summary(self) -> str:
        """One line for a thumbnail caption."""
        parts = [f"{self.face_count} face(s)" if self.face.state is not Tri.UNCERTAIN else self.face.reason]
        if self.yaw is not None and self.pitch is not None:
            parts.append(f"yaw {self.yaw:.0f}° pitch {self.pitch:.0f}°")
        if self.gaze_direction:
            parts.append(f"gaze {self.gaze_direction}")
        return ", ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (enums as strings, plus a one-line `summary`)."""
        out = asdict(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Finding):
                out[f.name] = value.as_dict()
        out["quality"]["usable"] = self.quality.usable.as_dict()
        out["quality"]["covered"] = self.quality.covered.as_dict()
        out["face_count"] = self.face_count
        out["summary"] = self.summary()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameFindings:
        """Rebuild from `as_dict()` output (older stored forms included)."""
        try:
            quality = dict(data["quality"])
            quality["usable"] = Finding.from_dict(quality.get("usable"))
            quality["covered"] = Finding.from_dict(quality.get("covered"))
            known = {f.name for f in fields(Quality)}
            out = cls(t=float(data["t"]), quality=Quality(**{k: v for k, v in quality.items() if k in known}))
            out.faces = [FaceBox(**f) for f in data.get("faces", [])]
        except (KeyError, TypeError) as err:
            raise FindingsFormatError(f"findings object without a readable t/quality/faces: {err}") from err
        for f in fields(cls):
            if f.name in ("t", "quality", "faces") or f.name not in data:
                continue
            value = data[f.name]
            current = getattr(out, f.name)
            if isinstance(current, Finding):
                value = Finding.from_dict(value)
            elif f.name in ("gaze_left", "gaze_right") and value is not None:
                value = EyeGaze(**value)
            setattr(out, f.name, value)
        return out
