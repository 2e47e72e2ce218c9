"""Frame analysis (PURE: a BGR ndarray in, FrameFindings out): quality, faces, landmarks, head pose, gaze, identity.

Cost per 640x480 frame on one core (bench/proctor_bench.py, CPU time on a shared 2-core VM, the sample videos): the
full-range face detector about 4.2 ms and the face mesh with iris about 3.6 ms of model inference, 9.3-9.8 ms for
the whole pipeline, i.e. 102-107 frames/s per core (97 in a run while another job shared the VM). The detector's
model runs directly in tflite-runtime instead of inside MediaPipe's graph (0.8-1.0 ms per frame less in an A/B
within one process; the same bench measured 10.8-11.3 ms, 89-93 frames/s, before it). Earlier work cut (*: together
10.0-10.4 ms down to about 9.3 ms as measured then): one half-size copy serves the quality measures and is reduced
once more to the detector's 192 px input (*: the graph's own copy and resize of a larger image cost 0.25 ms); the
MediaPipe graph runs on the calling thread (*: no thread pool hand-offs); the mesh runs alone on the detected face's
region (*: no tracking loop with its own detector, association and loopback, 0.3 ms, and no dependence on the
previous frame); only the 39 landmarks used are converted; quality by cv2.meanStdDev (*); SQPnP without distortion
coefficients (*); the mesh graph is called without the per-call namedtuple of .process().
The analyzer holds a MediaPipe graph and a TFLite interpreter, which are not thread-safe: create one FrameAnalyzer
per worker thread or process and reuse it (creating them costs far more than a frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from proctor.analysis.detectors import (
    DETECT_SIDE,
    MODEL_POINTS,
    POSE_LANDMARKS,
    FaceDetector,
    FaceSignature,
    IdentityEmbedder,
    Landmarker,
    QualityThresholds,
    check_frame,
    eye_gaze,
    head_pose,
    quality_of,
)
from proctor.analysis.findings import FaceBox, Finding, FrameFindings, Tri

__all__ = ["MODEL_POINTS", "AnalyzerConfig", "FrameAnalyzer", "head_pose", "quality_of"]


@dataclass(frozen=True)
class AnalyzerConfig:
    """Thresholds of the per-frame analysis."""

    # The MediaPipe graph the detector replaced always applied 0.6, whatever was asked (mediapipe issue #3896):
    # 0.6 keeps the same faces; the direct detector applies this value as given.
    min_face_score: float = 0.6
    detect_width: int = 320  # the frame is reduced to this width for the quality measures (and the tiles)
    small_face_tiles: bool = False  # second detector pass on upscaled tiles: faces down to ~16 px, 4x the cost
    min_landmark_face_px: int = 60  # smaller faces are counted but pose and gaze would be guesses
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    eye_closed_openness: float = 0.12  # lid gap / eye width below this: closed or blinking, gaze not measured
    max_gaze_yaw: float = 45.0  # beyond this head turn the far eye is foreshortened: gaze not measured
    gaze_centre_x: float = 0.5  # generic centre, used only for `gaze_direction` (flags use the own baseline)
    gaze_band_x: float = 0.08
    gaze_centre_y: float = 0.45
    gaze_band_y: float = 0.2
    # Similarity of IdentityEmbedder signatures. Same person, same room (our sample videos against one
    # enrolment frame): 5th percentiles 0.69-0.76; a noised copy of the enrolment face 0.62. Without an offline
    # impostor set the band in between is wide on purpose: uncertain, never "different person".
    identity_match: float = 0.68  # at or above: the enrolled person
    identity_mismatch: float = 0.55  # at or below: a different person


class FrameAnalyzer:
    """Turns BGR frames into FrameFindings. Holds a MediaPipe graph and a TFLite model: one analyzer per thread."""

    def __init__(self, config: AnalyzerConfig | None = None, enrolment: np.ndarray | None = None) -> None:
        self.config = config or AnalyzerConfig()
        config = self.config
        self._detector = FaceDetector(config.min_face_score, config.detect_width, config.small_face_tiles)
        self._landmarker = Landmarker()
        self._embedder = IdentityEmbedder()
        self._enrolled: FaceSignature | None = None
        if enrolment is not None:
            self.enrol(enrolment)

    def close(self) -> None:
        """Release the MediaPipe graph and the detector's model."""
        self._detector.close()
        self._landmarker.close()

    def __enter__(self) -> FrameAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def enrolled(self) -> bool:
        """Whether an enrolment photo was accepted."""
        return self._enrolled is not None

    def enrol(self, frame: np.ndarray) -> bool:
        """Remember the student's face from the enrolment photo; False (and nothing kept) unless exactly one face
        big enough for landmarks is visible in it."""
        findings, points = self._analyze(frame, 0.0)
        if findings.face_count != 1 or points is None:
            return False
        self._enrolled = self._embedder.signature(frame, findings.faces[0], points, findings.yaw)
        return True

    def analyze(self, frame: np.ndarray, t: float) -> FrameFindings:
        """Analyse one BGR frame taken at `t` seconds."""
        return self._analyze(frame, t)[0]

    def _analyze(self, frame: np.ndarray, t: float) -> tuple[FrameFindings, np.ndarray | None]:
        check_frame(frame)
        config = self.config
        h, w = frame.shape[:2]
        # One half-size copy (a 2x2 average at 640x480) serves the quality measures, and is reduced once more to
        # fit the detector's 192x192 input (the model sees that size whatever it is given).
        scale = min(1.0, config.detect_width / w)
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
        quality = quality_of(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), config.quality)
        findings = FrameFindings(t=t, quality=quality)
        fit = min(1.0, DETECT_SIDE / max(w, h))
        reduced = small
        if fit < scale:
            reduced = cv2.resize(small, (round(w * fit), round(h * fit)), interpolation=cv2.INTER_LINEAR)
        findings.faces = self._detector.detect(frame, cv2.cvtColor(reduced, cv2.COLOR_BGR2RGB))
        n = len(findings.faces)
        if n == 0:
            if quality.usable.state is Tri.PRESENT:
                findings.face = Finding.absent("no face detected in a usable image")
                findings.multiple_faces = Finding.absent("no face")
            else:
                # A detector that could not see says nothing about the student's presence.
                findings.face = Finding.uncertain(quality.usable.reason)
                findings.multiple_faces = Finding.uncertain(quality.usable.reason)
            findings.pose = findings.gaze = findings.gaze_off_centre = Finding.uncertain("no face")
            if self._enrolled is not None:
                findings.identity = Finding.uncertain("no face")
            return findings, None
        scores = ", ".join(f"{b.score:.2f}" for b in findings.faces)
        findings.face = Finding.present(f"{n} face(s), scores {scores}")
        findings.multiple_faces = (
            Finding.present(f"{n} faces, widths {', '.join(str(b.width) for b in findings.faces)} px")
            if n > 1
            else Finding.absent("one face")
        )
        main = findings.faces[0]
        if min(main.width, main.height) < config.min_landmark_face_px:
            reason = f"face too small for landmarks ({main.width} px wide, need {config.min_landmark_face_px})"
            findings.pose = findings.gaze = findings.gaze_off_centre = Finding.uncertain(reason)
            if self._enrolled is not None:
                findings.identity = Finding.uncertain(reason)
            return findings, None
        points = self._landmarker.landmarks(frame, main, self._detector.eyes.get(main), small)
        if points is None:
            reason = "landmarks not found on the face"
            findings.pose = findings.gaze = findings.gaze_off_centre = Finding.uncertain(reason)
        else:
            self._pose_and_gaze(points, w, h, findings)
        if self._enrolled is not None:
            self._identity(frame, main, points, findings)
        return findings, points

    def _pose_and_gaze(self, points: np.ndarray, w: int, h: int, findings: FrameFindings) -> None:
        config = self.config
        pose = head_pose(points[list(POSE_LANDMARKS)], w, h)
        if pose is None:
            findings.pose = Finding.uncertain("head pose could not be solved")
        else:
            findings.yaw, findings.pitch, findings.roll = pose
            findings.pose = Finding.present(f"yaw {pose[0]:.1f}, pitch {pose[1]:.1f}, roll {pose[2]:.1f}")
        left, right = eye_gaze(points)
        findings.gaze_left, findings.gaze_right = left, right
        open_eyes = [e for e in (left, right) if e.openness >= config.eye_closed_openness]
        if findings.yaw is not None and abs(findings.yaw) > config.max_gaze_yaw:
            findings.gaze = findings.gaze_off_centre = Finding.uncertain(
                f"head turned {findings.yaw:.0f}°: too far to read the eyes"
            )
            return
        if not open_eyes:
            findings.gaze = findings.gaze_off_centre = Finding.uncertain(
                f"eyes closed or blinking (openness {max(left.openness, right.openness):.2f})"
            )
            return
        findings.gaze_x = sum(e.x for e in open_eyes) / len(open_eyes)
        findings.gaze_y = sum(e.y for e in open_eyes) / len(open_eyes)
        findings.gaze = Finding.present(f"iris x {findings.gaze_x:.3f}, y {findings.gaze_y:.3f}")
        dx = findings.gaze_x - config.gaze_centre_x
        dy = findings.gaze_y - config.gaze_centre_y
        if abs(dx) > config.gaze_band_x and abs(dx) / config.gaze_band_x >= abs(dy) / config.gaze_band_y:
            findings.gaze_direction = "left" if dx < 0 else "right"
        elif abs(dy) > config.gaze_band_y:
            findings.gaze_direction = "up" if dy < 0 else "down"
        else:
            findings.gaze_direction = "centre"
        findings.gaze_off_centre = (
            Finding.absent("centre")
            if findings.gaze_direction == "centre"
            else Finding.present(f"{findings.gaze_direction} of a generic centre")
        )

    def _identity(self, frame: np.ndarray, box: FaceBox, points: np.ndarray | None, findings: FrameFindings) -> None:
        config = self.config
        assert self._enrolled is not None
        signature = self._embedder.signature(frame, box, points, findings.yaw)
        similarity = IdentityEmbedder.similarity(self._enrolled, signature)
        findings.identity_similarity = round(similarity, 4)
        if findings.quality.usable.state is not Tri.PRESENT:
            findings.identity = Finding.uncertain(f"{findings.quality.usable.reason}; similarity {similarity:.2f}")
        elif similarity >= config.identity_match:
            findings.identity = Finding.present(f"similarity {similarity:.2f} >= {config.identity_match}")
        elif similarity <= config.identity_mismatch:
            findings.identity = Finding.absent(f"similarity {similarity:.2f} <= {config.identity_mismatch}")
        else:
            findings.identity = Finding.uncertain(f"similarity {similarity:.2f} between the thresholds")
