"""What one frame shows (PURE dataclasses). Every finding is three-way: present, absent or uncertain with a
reason, so a detector that could not see is never reported as "no face" or "looking away"."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Tri(StrEnum):
    """A finding's state."""

    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Finding:
    """One three-way finding with the reason when it is uncertain (or the measured value behind it)."""

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


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixels, with the detector's score."""

    x: int
    y: int
    width: int
    height: int
    score: float


@dataclass(frozen=True)
class Quality:
    """Image quality measures: mean brightness (0-255), contrast (SD), sharpness (variance of the Laplacian)."""

    brightness: float
    contrast: float
    sharpness: float
    usable: Finding  # absent when the camera looks covered or the image is too dark/blurred to judge


@dataclass
class FrameFindings:
    """Everything measured on one frame at time t (seconds)."""

    t: float
    quality: Quality
    faces: list[FaceBox] = field(default_factory=list)
    face: Finding = field(default_factory=lambda: Finding.uncertain("not analysed"))
    multiple_faces: Finding = field(default_factory=lambda: Finding.uncertain("not analysed"))
    yaw: float | None = None  # degrees, positive = the student turns to their left (image right)
    pitch: float | None = None  # degrees, positive = looking up
    roll: float | None = None
    gaze_x: float | None = None  # iris position between the eye corners, 0.5 = centred, mean of both eyes
    gaze_y: float | None = None
    pose: Finding = field(default_factory=lambda: Finding.uncertain("no face"))
    identity: Finding = field(default_factory=lambda: Finding.uncertain("no enrolment photo"))
    identity_distance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (enums as strings)."""
        out = asdict(self)
        for key in ("face", "multiple_faces", "pose", "identity"):
            out[key] = {"state": getattr(self, key).state.value, "reason": getattr(self, key).reason}
        out["quality"]["usable"] = {"state": self.quality.usable.state.value, "reason": self.quality.usable.reason}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameFindings:
        """Rebuild from as_dict() output."""

        def finding(value: dict[str, str]) -> Finding:
            return Finding(Tri(value["state"]), value.get("reason", ""))

        quality = dict(data["quality"])
        quality["usable"] = finding(quality["usable"])
        return cls(
            t=data["t"],
            quality=Quality(**quality),
            faces=[FaceBox(**f) for f in data.get("faces", [])],
            face=finding(data["face"]),
            multiple_faces=finding(data["multiple_faces"]),
            yaw=data.get("yaw"),
            pitch=data.get("pitch"),
            roll=data.get("roll"),
            gaze_x=data.get("gaze_x"),
            gaze_y=data.get("gaze_y"),
            pose=finding(data["pose"]),
            identity=finding(data["identity"]),
            identity_distance=data.get("identity_distance"),
        )
