"""Frame analysis (PURE: an ndarray in, FrameFindings out): quality, faces, landmarks, head pose, gaze, identity.

MediaPipe 0.10.21 ships its models inside the wheel, so everything runs offline:
- faces: the full-range BlazeFace detector (faces up to about 5 m away, so small background faces count);
- landmarks: Face Mesh with refined iris landmarks, run on a crop around the largest face only;
- head pose: cv2.solvePnP of six landmarks against a generic 3D face;
- gaze: each iris centre between its eye corners (horizontal) and lids (vertical), so eye movements that the
  head does not make are seen;
- identity: an LBPH histogram distance (OpenCV contrib) between the face and the enrolment photo. This is a weak
  check (lighting and pose change it); it is reported as evidence with its distance, never as proof.
MediaPipe graphs are not thread-safe: create one FrameAnalyzer per worker thread or process.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from proctor.analysis.findings import FaceBox, Finding, FrameFindings, Quality

# A generic face in millimetres, camera-like axes (x right, y down, z away from the camera), nose tip at 0.
MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip (landmark 1)
        (0.0, 330.0, 65.0),  # chin (152)
        (-225.0, -170.0, 135.0),  # outer corner of the eye on the image's left (33)
        (225.0, -170.0, 135.0),  # outer corner of the eye on the image's right (263)
        (-150.0, 150.0, 125.0),  # mouth corner on the image's left (61)
        (150.0, 150.0, 125.0),  # mouth corner on the image's right (291)
    ]
)
POSE_LANDMARKS = (1, 152, 33, 263, 61, 291)
DETECT_WIDTH = 320
MESH_SIDE = 192
# (outer/left corner, inner/right corner, iris centre, upper lid, lower lid) with corners ordered left to right.
EYES = ((33, 133, 468, 159, 145), (362, 263, 473, 386, 374))
USED_LANDMARKS = sorted({*POSE_LANDMARKS, *(i for eye in EYES for i in eye)})


@dataclass
class AnalyzerConfig:
    """Thresholds of the per-frame analysis."""

    min_face_score: float = 0.5
    min_landmark_face_px: int = 60  # smaller faces are counted but too small for pose and gaze
    dark_brightness: float = 35.0
    covered_contrast: float = 12.0
    blur_sharpness: float = 15.0
    identity_match: float = 70.0  # LBPH chi-square distance at or below: same person
    identity_mismatch: float = 120.0  # at or above: a different person (in between: uncertain)


def quality_of(gray: np.ndarray, config: AnalyzerConfig) -> Quality:
    """Brightness, contrast and sharpness on a reduced copy; a covered or black camera is not a usable view."""
    small = cv2.resize(gray, (160, 120), interpolation=cv2.INTER_LINEAR)
    brightness = float(small.mean())
    contrast = float(small.std())
    sharpness = float(cv2.Laplacian(small, cv2.CV_64F).var())
    if brightness < config.dark_brightness and contrast < config.covered_contrast:
        usable = Finding.absent(f"camera covered or dark (brightness {brightness:.0f}, contrast {contrast:.0f})")
    elif brightness < config.dark_brightness:
        usable = Finding.uncertain(f"too dark to see reliably (brightness {brightness:.0f})")
    elif sharpness < config.blur_sharpness and contrast < 2 * config.covered_contrast:
        usable = Finding.uncertain(f"blurred or featureless image (sharpness {sharpness:.0f})")
    else:
        usable = Finding.present()
    return Quality(brightness, contrast, sharpness, usable)


def head_pose(points: np.ndarray, width: int, height: int) -> tuple[float, float, float] | None:
    """Yaw, pitch, roll in degrees from the six pose landmarks in pixels (None when solvePnP fails)."""
    focal = float(width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(
        MODEL_POINTS, points.astype(np.float64), camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    angles, *_ = cv2.RQDecomp3x3(rotation)
    pitch, yaw, roll = (float(a) for a in angles)
    # RQDecomp3x3 may return the equivalent angle on the other side of ±180 for the x axis.
    if pitch > 90:
        pitch -= 180
    elif pitch < -90:
        pitch += 180
    return yaw, -pitch, roll


def gaze_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """Mean iris position between the eye corners (x) and between the lids (y); 0.5 is centred."""
    xs, ys = [], []
    for left, right, iris, top, bottom in EYES:
        axis = landmarks[right] - landmarks[left]
        xs.append(float(np.dot(landmarks[iris] - landmarks[left], axis) / max(np.dot(axis, axis), 1e-9)))
        span = landmarks[bottom][1] - landmarks[top][1]
        ys.append(float((landmarks[iris][1] - landmarks[top][1]) / span) if abs(span) > 1e-6 else 0.5)
    return float(np.mean(xs)), float(np.mean(ys))


class FrameAnalyzer:
    """Turns BGR frames into FrameFindings. Holds MediaPipe graphs: one analyzer per thread."""

    def __init__(self, config: AnalyzerConfig | None = None, enrolment: np.ndarray | None = None) -> None:
        import mediapipe as mp

        self.config = config or AnalyzerConfig()
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=self.config.min_face_score
        )
        # Tracking mode on crops centred on the detected face: the previous landmarks' region stays valid from
        # one crop to the next (even between students), so the mesh skips its own detector; when the region does
        # not hold a face the graph notices (presence score) and detects again.
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=0.3,
            min_tracking_confidence=0.5,
        )
        self._recognizer = None
        if enrolment is not None:
            self.enrol(enrolment)

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self._detector.close()
        self._mesh.close()

    def enrol(self, frame: np.ndarray) -> bool:
        """Remember the student's face from the enrolment photo; False when no single face is visible in it."""
        findings = self.analyze(frame, 0.0)
        if len(findings.faces) != 1:
            return False
        recognizer = cv2.face.LBPHFaceRecognizer_create(radius=1, neighbors=8, grid_x=8, grid_y=8)
        recognizer.train([self._face_patch(frame, findings.faces[0])], np.array([0]))
        self._recognizer = recognizer
        return True

    @staticmethod
    def _face_patch(frame: np.ndarray, box: FaceBox) -> np.ndarray:
        h, w = frame.shape[:2]
        x0, y0 = max(0, box.x), max(0, box.y)
        x1, y1 = min(w, box.x + box.width), min(h, box.y + box.height)
        gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        return cv2.equalizeHist(cv2.resize(gray, (96, 96), interpolation=cv2.INTER_LINEAR))

    def detect_faces(self, rgb: np.ndarray) -> list[FaceBox]:
        """All faces the full-range detector finds, largest first (boxes in the frame's pixels)."""
        h, w = rgb.shape[:2]
        result = self._detector.process(rgb)
        boxes = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            boxes.append(
                FaceBox(
                    int(rel.xmin * w),
                    int(rel.ymin * h),
                    int(rel.width * w),
                    int(rel.height * h),
                    float(detection.score[0]),
                )
            )
        return sorted(boxes, key=lambda b: -b.width * b.height)

    def analyze(self, frame: np.ndarray, t: float) -> FrameFindings:
        """Analyse one BGR frame taken at `t` seconds."""
        if frame is None or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
            raise ValueError("expected a BGR image (height x width x 3)")
        h, w = frame.shape[:2]
        # Work on a reduced copy for everything but the landmarks (the models see 192 x 192 anyway).
        scale = min(1.0, DETECT_WIDTH / w)
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
        quality = quality_of(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), self.config)
        findings = FrameFindings(t=t, quality=quality)
        findings.faces = [
            FaceBox(round(b.x / scale), round(b.y / scale), round(b.width / scale), round(b.height / scale), b.score)
            for b in self.detect_faces(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        ]
        n = len(findings.faces)
        if n == 0:
            if quality.usable.state.value == "present":
                findings.face = Finding.absent("no face detected in a usable image")
                findings.multiple_faces = Finding.absent()
            else:
                findings.face = Finding.uncertain(quality.usable.reason)
                findings.multiple_faces = Finding.uncertain(quality.usable.reason)
            findings.pose = Finding.uncertain("no face")
            return findings
        findings.face = Finding.present(f"{n} face(s)")
        findings.multiple_faces = Finding.present(f"{n} faces") if n > 1 else Finding.absent()
        main = findings.faces[0]
        if min(main.width, main.height) < self.config.min_landmark_face_px:
            findings.pose = Finding.uncertain(f"face too small for landmarks ({main.width}px wide)")
        else:
            self._landmarks(frame, main, findings)
        if self._recognizer is not None and min(main.width, main.height) >= self.config.min_landmark_face_px:
            _, distance = self._recognizer.predict(self._face_patch(frame, main))
            findings.identity_distance = float(distance)
            if distance <= self.config.identity_match:
                findings.identity = Finding.present(f"LBPH distance {distance:.0f}")
            elif distance >= self.config.identity_mismatch:
                findings.identity = Finding.absent(f"LBPH distance {distance:.0f}")
            else:
                findings.identity = Finding.uncertain(f"LBPH distance {distance:.0f} between the thresholds")
        return findings

    def _landmarks(self, frame: np.ndarray, box: FaceBox, findings: FrameFindings) -> None:
        h, w = frame.shape[:2]
        # The mesh runs on a crop around the face (with margin): a small image, and the largest face only.
        margin = int(0.6 * max(box.width, box.height))
        x0, y0 = max(0, box.x - margin), max(0, box.y - margin)
        x1, y1 = min(w, box.x + box.width + margin), min(h, box.y + box.height + margin)
        crop = frame[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        scale = min(1.0, MESH_SIDE / max(ch, cw))
        if scale < 1:  # the landmark model sees 192 x 192 pixels; landmarks come back relative to the crop
            crop = cv2.resize(crop, (round(cw * scale), round(ch * scale)), interpolation=cv2.INTER_LINEAR)
        result = self._mesh.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        if not result.multi_face_landmarks:
            findings.pose = Finding.uncertain("landmarks not found on the face")
            return
        landmarks = result.multi_face_landmarks[0].landmark
        points = np.zeros((len(landmarks), 2))
        for index in USED_LANDMARKS:  # 20 of the 478 landmarks are used: convert only those
            point = landmarks[index]
            points[index] = (point.x * cw + x0, point.y * ch + y0)
        pose = head_pose(points[list(POSE_LANDMARKS)], w, h)
        if pose is None:
            findings.pose = Finding.uncertain("head pose could not be solved")
            return
        findings.yaw, findings.pitch, findings.roll = pose
        findings.gaze_x, findings.gaze_y = gaze_ratios(points)
        findings.pose = Finding.present()
