"""The measuring instruments of the frame analysis (PURE: arrays in, numbers and dataclasses out).

Everything runs offline: MediaPipe 0.10.21 ships its TFLite models inside the wheel, OpenCV contrib ships the rest.
- FaceDetector: MediaPipe's full-range BlazeFace (made for faces up to about 5 m away) on a downscaled frame;
  measured on this project's composites it finds faces down to about 33 px wide in a 640x480 frame. An optional
  second pass runs it on four overlapping upscaled quarter tiles, which reaches about half that size at four
  times the cost. (OpenCV's Haar cascades were measured at 13 ms per 320x240 frame and many false hits; YuNet
  needs an ONNX file that opencv-contrib does not ship, so neither is used.)
  The model file from the mediapipe wheel runs directly in tflite-runtime (XNNPACK, one thread), with what
  MediaPipe's FaceDetectionFullRangeCpu graph does around it rewritten in numpy (letterbox, SSD anchors and
  decoding, weighted non-max suppression), because the graph cost more than the model: on one core, per call on
  the sample videos' frames, 5.5 ms median for the graph against 4.75 ms (the model alone 4.2 ms): 0.8-1.0 ms
  less per analysed frame measured in one process, bench/proctor_bench.py 10.8-11.3 ms per frame before and
  9.3-9.8 after. The faces are the graph's: on the shipped photographs, their variants and all 990 sample-video
  frames, the same count, boxes within 0.5 px (rounding) and scores within 1e-6
  (tests/proctor/analysis/test_face_detection_equivalence.py).
- Landmarker: Face Mesh with refined iris landmarks (478 points) on a crop around one face.
- head_pose: cv2.solvePnP of six landmarks against a generic 3D face.
- eye_gaze: iris centre between the eye corners and lids, per eye.
- quality_of: brightness, contrast, variance of the Laplacian.
- IdentityEmbedder: a weak, offline face signature (see its docstring for what it can and cannot tell).
MediaPipe graphs and TFLite interpreters are not thread-safe: create these objects once per worker thread and
reuse them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from proctor.analysis.findings import EyeGaze, FaceBox, Finding, Quality

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
# Per eye: (corner on the image's left, corner on the image's right, iris centre, upper lid, lower lid).
EYES = ((33, 133, 468, 159, 145), (362, 263, 473, 386, 374))
# Points whose mutual distances make the geometric half of the identity signature (rigid parts of the face).
GEOMETRY_LANDMARKS = (1, 2, 4, 10, 33, 61, 70, 133, 152, 234, 263, 291, 300, 362, 454)
USED_LANDMARKS = tuple(sorted({*POSE_LANDMARKS, *(i for eye in EYES for i in eye), *GEOMETRY_LANDMARKS}))
MESH_SIDE = 192  # the landmark model's input side: larger crops are only resized down inside the graph
# The landmark region's side over the detected box's longer side. MediaPipe derives 1.5 from its short-range
# detector's boxes; the full-range boxes are smaller (the mesh's own tracking region measured 1.6 of them). On the
# labelled videos 1.8 separated the side glances from the centre best (iris shift over its spread at the centre:
# 13 and 15 for the left and right videos, against 9 and 17 at 1.5 and 8 and 14 at 1.6) and kept every side
# frame's shift at 0.10 or more (0.085-0.09 at 1.5-1.6, too near the rule's 0.085 threshold).
ROI_SCALE = 1.8


class DetectorError(ValueError):
    """A frame the instruments cannot take (wrong shape or type)."""


def check_frame(frame: np.ndarray) -> None:
    """Refuse anything but an 8-bit BGR image, naming what was passed."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise DetectorError(f"expected a BGR image (height x width x 3), got {shape}")
    if frame.dtype != np.uint8:
        raise DetectorError(f"expected 8-bit pixels, got {frame.dtype}")


# --- image quality -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityThresholds:
    """When a view is too dark, covered or blurred to judge (grey levels 0-255)."""

    dark_brightness: float = 35.0
    covered_contrast: float = 12.0
    blur_sharpness: float = 15.0


def quality_of(gray: np.ndarray, thresholds: QualityThresholds | None = None) -> Quality:
    """Brightness, contrast and variance of the Laplacian on a 160x120 copy (fast, and blur is judged at the
    scale the detector works at). Dark and textureless = covered; dark = too dark to see; flat = blurred."""
    th = thresholds or QualityThresholds()
    if gray.ndim != 2 or gray.size == 0:
        raise DetectorError(f"expected a grey image (height x width), got {gray.shape}")
    small = cv2.resize(gray, (160, 120), interpolation=cv2.INTER_AREA)
    # cv2.meanStdDev instead of numpy's mean/std/var (0.25 ms less); the 8-bit Laplacian fits 16 bits exactly.
    mean, std = cv2.meanStdDev(small)
    brightness, contrast = float(mean[0, 0]), float(std[0, 0])
    sharpness = float(cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_16S))[1][0, 0] ** 2)
    covered = brightness < th.dark_brightness and contrast < th.covered_contrast
    if covered:
        usable = Finding.absent(f"camera covered or dark (brightness {brightness:.0f}, contrast {contrast:.0f})")
    elif brightness < th.dark_brightness:
        usable = Finding.uncertain(f"too dark to see reliably (brightness {brightness:.0f})")
    elif sharpness < th.blur_sharpness and contrast < 2 * th.covered_contrast:
        usable = Finding.uncertain(f"blurred or featureless image (sharpness {sharpness:.0f})")
    else:
        usable = Finding.present()
    cover = (
        Finding.present(f"brightness {brightness:.0f}, contrast {contrast:.0f}")
        if covered
        else Finding.absent(f"brightness {brightness:.0f}, contrast {contrast:.0f}")
    )
    return Quality(brightness, contrast, sharpness, usable, cover)


# --- MediaPipe graphs ---------------------------------------------------------------------------------------


def _mediapipe_root() -> str:
    import mediapipe as mp

    return os.path.dirname(os.path.dirname(os.path.abspath(mp.__file__)))


def on_calling_thread(config: Any) -> Any:
    """The graph config with MediaPipe's ApplicationThreadExecutor as its default executor: every calculator
    runs on the thread that calls wait_until_idle, so one analyzer uses one core (the default executor starts a
    thread pool sized by the machine's cores and hands each packet between threads: measured 0.2-0.3 ms per
    frame of thread switches on one pinned core)."""
    del config.executor[:]
    executor = config.executor.add()
    executor.name = ""
    executor.type = "ApplicationThreadExecutor"
    return config


def run_graph(solution: Any, rgb: np.ndarray, stream: str) -> Any:
    """One output stream of a MediaPipe `mp.solutions` graph for one RGB image.

    Same steps as SolutionBase.process in mediapipe 0.10.21 (add the image packet, wait until idle, read the
    output), minus building a new namedtuple class and evaluating every output stream on each call, which
    measured 0.35 ms per call (7% of a frame). Falls back to .process() if the private attributes differ.
    """
    try:
        graph, outputs = solution._graph, solution._graph_outputs
        input_name = next(iter(solution._input_stream_type_info))
        input_type = solution._input_stream_type_info[input_name]
        output_type = solution._output_stream_type_info[stream]
        make_packet, get_content = solution._make_packet, solution._get_packet_content
    except (AttributeError, KeyError, StopIteration, TypeError):
        return getattr(solution.process(rgb), stream)
    outputs.clear()
    solution._simulated_timestamp += 33333  # what .process() does: the graphs expect increasing timestamps
    graph.add_packet_to_input_stream(
        stream=input_name, packet=make_packet(input_type, rgb).at(solution._simulated_timestamp)
    )
    graph.wait_until_idle()
    return get_content(output_type, outputs[stream]) if stream in outputs else None


def mediapipe_full_range_detection() -> Any:
    """MediaPipe's own FaceDetectionFullRangeCpu graph (what mp.solutions' FaceDetection with model_selection=1
    runs), on the calling thread: the reference FaceDetector's direct inference is tested against, and what it
    ran until it was replaced. Call it with run_graph(graph, rgb, "detections"); close() it when done.

    The graph keeps only scores of 0.6 or more whatever minimum is asked for (measured: with 0.3 or 0.5, scores
    of 0.50-0.59 never came out; with 0.7 or 0.8, 0.61-0.69 still did; mediapipe issue #3896), so no option is
    passed."""
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase
    from mediapipe.python.solutions import face_detection

    config = calculator_pb2.CalculatorGraphConfig()
    with open(os.path.join(_mediapipe_root(), face_detection._FULL_RANGE_GRAPH_FILE_PATH), "rb") as handle:
        config.ParseFromString(handle.read())
    return SolutionBase(graph_config=on_calling_thread(config), outputs=["detections"])


# --- the full-range face detector without its graph ----------------------------------------------------------
# What MediaPipe's FaceDetectionFullRange graph (mediapipe/modules/face_detection/face_detection_full_range.pbtxt
# and face_detection.pbtxt) does around the model, step by step, as plain numpy/cv2.

DETECT_SIDE = 192  # the full-range detector's input side: the frame is letterboxed into 192x192 whatever its size
FULL_RANGE_MODEL = "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"  # in the wheel
MODEL_MIN_SCORE = 0.6  # the graph's own minimum score, the only one it ever applied (mediapipe_full_range_detection)
NMS_IOU = 0.3  # NonMaxSuppressionCalculator: min_suppression_threshold, INTERSECTION_OVER_UNION, WEIGHTED


def full_range_anchors() -> np.ndarray:
    """The model's 2304 SSD anchor centres as (x, y) fractions of the input, in the model's output order.

    SsdAnchorsCalculator with the full-range options (num_layers 1, strides [4], input 192x192, anchor offsets
    0.5, aspect_ratios [1.0], interpolated_scale_aspect_ratio 0, fixed_anchor_size): one anchor per cell of the
    48x48 feature map, row by row, of width and height 1 (so the decoding below multiplies by 1)."""
    cells = DETECT_SIDE // 4
    ys, xs = np.mgrid[0:cells, 0:cells]
    return np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1).astype(np.float32)


def letterbox(rgb: np.ndarray, out: np.ndarray) -> tuple[float, float, float]:
    """Write the RGB image into `out` (192x192x3 float32) as ImageToTensorCalculator does for the detector:
    the whole image, aspect kept, centred in a square of its longer side (zero = black borders), resized to 192
    with bilinear sampling, pixels mapped to [-1, 1]. Returns (side, x offset, y offset) of that square in the
    image's pixels: a point at fraction (u, v) of the model input is at (offset x + u * side, offset y + v * side).

    MediaPipe maps the square's corners onto the output's corners (cv2.warpPerspective, INTER_LINEAR,
    BORDER_CONSTANT); the same affine matrix is used here. When the image already fits at scale 1 with whole-pixel
    borders (the pipeline's 192x144 copy of a 4:3 frame) that warp is a plain copy, done as one."""
    h, w = rgb.shape[:2]
    side = float(max(w, h))
    x0, y0 = (w - side) / 2, (h - side) / 2
    k = DETECT_SIDE / side
    if k == 1.0 and x0.is_integer() and y0.is_integer():
        top, left = int(-y0), int(-x0)
        out[:top], out[top + h :] = -1.0, -1.0  # the borders: black is -1
        out[top : top + h, :left], out[top : top + h, left + w :] = -1.0, -1.0
        # uint8 -> float32 * 2/255 - 1, written in place (cv2.convertTo in MediaPipe).
        cv2.addWeighted(rgb, 2 / 255, rgb, 0.0, -1.0, dst=out[top : top + h, left : left + w], dtype=cv2.CV_32F)
    else:
        matrix = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]])
        warped = cv2.warpAffine(rgb, matrix, (DETECT_SIDE, DETECT_SIDE), flags=cv2.INTER_LINEAR)
        cv2.addWeighted(warped, 2 / 255, warped, 0.0, -1.0, dst=out, dtype=cv2.CV_32F)
    return side, x0, y0


# Adds an anchor centre (x, y) to the x and y values of a decoded row: box centre, then six keypoints.
_ANCHOR_SPREAD = np.array([[1, 0, 0, 0] + [1, 0] * 6, [0, 1, 0, 0] + [0, 1] * 6], np.float32)
Candidate = tuple[float, list[float], list[float]]  # score, box (xmin, ymin, xmax, ymax), 6 keypoints (x, y, ...)


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float
) -> list[Candidate]:
    """The detections scoring at least `min_score`, as TensorsToDetectionsCalculator decodes them: per anchor 16
    values, reverse_output_order (x before y): the box centre's offset from the anchor, its width and height,
    then six keypoints (x, y), all in input pixels (x/y/w/h scale 192); score = sigmoid of the logit clipped to
    ±100. Boxes (xmin, ymin, xmax, ymax) and keypoints are fractions of the model input; anchor order; boxes with
    a negative or NaN size are dropped as MediaPipe does.

    One numpy pass picks the few anchors whose logit can reach the threshold (the sigmoid is monotonic); only those
    are decoded, then scored and filtered in plain Python: right after the model has run each numpy call starts
    with cold caches, and decoding all 2304 anchors with a dozen numpy calls measured 0.3 ms per frame."""
    logits = raw_scores.reshape(-1)
    cut = math.log(min_score / (1 - min_score)) - 1e-3 if 0 < min_score < 1 else -math.inf
    near = np.flatnonzero(logits >= cut)
    if not len(near):
        return []
    # Input pixels -> fractions, plus the anchor centre on every x and y (the box centre, the six keypoints).
    rows = (raw_boxes.reshape(-1, 16)[near] / np.float32(DETECT_SIDE) + anchors[near] @ _ANCHOR_SPREAD).tolist()
    out = []
    for logit, (cx, cy, w, h, *points) in zip(logits[near].tolist(), rows, strict=True):
        score = 1.0 / (1.0 + math.exp(-min(max(logit, -100.0), 100.0)))
        if score >= min_score and w >= 0 and h >= 0:  # the size tests are false for NaN too
            out.append((score, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], points))
    return out


def weighted_nms(candidates: list[Candidate], threshold: float = NMS_IOU) -> list[Candidate]:
    """NonMaxSuppressionCalculator's WEIGHTED algorithm: take the best remaining detection, gather every remaining
    one whose IoU with it exceeds `threshold` (itself included), and output the best one's score with the box
    corners and keypoints averaged over that cluster, weighted by score; repeat on the rest. Best first.
    Plain Python: a face leaves a handful of candidates, too few for numpy's per-call overhead to pay."""

    def overlap(a: list[float], b: list[float]) -> float:
        w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        inter = w * h if w > 0 and h > 0 else 0.0
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    remaining = sorted(candidates, key=lambda c: -c[0])
    out: list[Candidate] = []
    while remaining:
        best = remaining[0]
        cluster = [c for c in remaining if overlap(c[1], best[1]) > threshold]
        remained = [c for c in remaining if overlap(c[1], best[1]) <= threshold]
        members = cluster or [best]  # a box of no area overlaps nothing, not even itself: kept as it is
        total = sum(c[0] for c in members)
        box = [sum(c[1][i] * c[0] for c in members) / total for i in range(4)]
        points = [sum(c[2][i] * c[0] for c in members) / total for i in range(len(best[2]))]
        out.append((best[0], box, points))
        if len(remained) == len(remaining):  # MediaPipe stops when a round removed nothing
            break
        remaining = remained
    return out


# --- faces ---------------------------------------------------------------------------------------------------


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def merge_boxes(boxes: list[FaceBox], overlap: float = 0.3) -> list[FaceBox]:
    """Non-maximum suppression: keep the best-scoring box of each overlapping group; largest first.
    A box mostly inside a kept one (a tile that saw half a face) is dropped too."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        inside = any(_contained(box, k) > 0.6 for k in kept)
        if not inside and all(iou(box, k) < overlap for k in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: -b.width * b.height)


def _contained(inner: FaceBox, outer: FaceBox) -> float:
    x0, y0 = max(inner.x, outer.x), max(inner.y, outer.y)
    x1, y1 = min(inner.x + inner.width, outer.x + outer.width), min(inner.y + inner.height, outer.y + outer.height)
    area = inner.width * inner.height
    return max(0, x1 - x0) * max(0, y1 - y0) / area if area > 0 else 0.0


class FaceDetector:
    """All faces in a frame, small and background ones included (MediaPipe full-range BlazeFace).

    The model file inside the mediapipe wheel runs directly in tflite-runtime (one thread, on the caller's), with
    MediaPipe's graph steps around it in numpy (letterbox, decode_detections, weighted_nms): the same boxes and
    scores as the graph (tests/proctor/analysis/test_face_detection_equivalence.py) at less cost, see the module
    docstring. The model sees a 192x192 letterboxed copy whatever it is given, so the frame is reduced to fit
    192x192 first. `min_score` is the lowest score kept (the graph always applied 0.6, hence the default).
    `detect_width` is the width each tile of the optional second pass is scaled to: `tiles=True` adds that pass
    on four overlapping quarter tiles (each upscaled) for faces below about 33 px. The eye keypoints of each box
    are kept in `eyes` (frame pixels, the eye on the image's left first) for aligning the landmark crop.
    """

    def __init__(
        self,
        min_score: float = MODEL_MIN_SCORE,
        detect_width: int = 320,
        tiles: bool = False,
        tile_min_score: float = 0.7,
    ) -> None:
        from tflite_runtime.interpreter import Interpreter

        self.min_score = min_score
        # Upscaled tiles of blurred texture produce more weak false faces (0.62 on blurred noise): ask for more.
        self.tile_min_score = max(min_score, tile_min_score)
        self.detect_width = detect_width
        self.tiles = tiles
        self.eyes: dict[FaceBox, tuple[tuple[float, float], tuple[float, float]]] = {}
        self._interpreter: Any = Interpreter(
            model_path=os.path.join(_mediapipe_root(), FULL_RANGE_MODEL), num_threads=1
        )
        self._interpreter.allocate_tensors()
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        boxes, scores = self._interpreter.get_output_details()  # (1, 2304, 16) and (1, 2304, 1)
        self._boxes_index, self._scores_index = boxes["index"], scores["index"]
        self._anchors = full_range_anchors()

    def close(self) -> None:
        """Release the model."""
        self._interpreter = None

    def _run(self, rgb: np.ndarray, x0: float, y0: float, scale: float) -> list[FaceBox]:
        if self._interpreter is None:
            raise DetectorError("the detector was closed")
        # Written into and read from the interpreter's own buffers: set_tensor/get_tensor would copy 0.6 MB per
        # frame, and that traffic measured 0.3-0.5 ms (the model's working set is evicted). No view of the buffers
        # may outlive the call that uses it: invoke() refuses to run while one exists.
        side, left, top = letterbox(rgb, self._interpreter.tensor(self._input_index)()[0])
        self._interpreter.invoke()
        found = decode_detections(
            self._interpreter.tensor(self._boxes_index)(),
            self._interpreter.tensor(self._scores_index)(),
            self._anchors,
            self.min_score,
        )
        out = []
        for score, (bx0, by0, bx1, by1), points in weighted_nms(found):
            # Model-input fractions -> the given image's pixels (undo the letterbox) -> the frame's pixels.
            fx0, fy0 = x0 + (left + bx0 * side) / scale, y0 + (top + by0 * side) / scale
            box = FaceBox(
                round(fx0), round(fy0), round((bx1 - bx0) * side / scale), round((by1 - by0) * side / scale), score
            )
            # BlazeFace keypoints: 0 = the eye on the image's left, 1 = the other eye.
            self.eyes[box] = (
                (x0 + (left + points[0] * side) / scale, y0 + (top + points[1] * side) / scale),
                (x0 + (left + points[2] * side) / scale, y0 + (top + points[3] * side) / scale),
            )
            out.append(box)
        return out

    def detect(self, frame_bgr: np.ndarray, reduced_rgb: np.ndarray | None = None) -> list[FaceBox]:
        """Boxes in the frame's pixels, largest first. `reduced_rgb` is the frame already reduced to fit
        DETECT_SIDE x DETECT_SIDE and converted to RGB, when the caller has it (saves a resize and a conversion)."""
        check_frame(frame_bgr)
        self.eyes = {}
        h, w = frame_bgr.shape[:2]
        if reduced_rgb is None:
            scale = min(1.0, DETECT_SIDE / max(w, h))
            small = cv2.resize(frame_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
            reduced_rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        scale = reduced_rgb.shape[1] / w
        boxes = self._run(reduced_rgb, 0, 0, scale)
        if self.tiles:
            boxes += self._tile_pass(frame_bgr)
            return merge_boxes(boxes)
        return sorted(boxes, key=lambda b: -b.width * b.height)

    def _tile_pass(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        h, w = frame_bgr.shape[:2]
        tw, th = round(w * 0.6), round(h * 0.6)  # 60% tiles overlap by 20% so a face on a seam is whole in one
        scale = min(2.0, self.detect_width / tw)
        out = []
        for y0 in (0, h - th):
            for x0 in (0, w - tw):
                tile = frame_bgr[y0 : y0 + th, x0 : x0 + tw]
                tile = cv2.resize(tile, (round(tw * scale), round(th * scale)), interpolation=cv2.INTER_LINEAR)
                out += self._run(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB), x0, y0, scale)
        return [b for b in out if b.score >= self.tile_min_score]


Eyes = tuple[tuple[float, float], tuple[float, float]]


def face_roi(box: FaceBox, eyes: Eyes | None) -> tuple[float, float, float, float]:
    """The landmark model's region for a detected face, as MediaPipe's own face mesh derives it from a
    detection (FaceDetectionFrontDetectionToRoi): the box's centre, a square ROI_SCALE times its longer side,
    turned so the eyes are level. Returns (centre x, centre y, side, rotation in radians), frame pixels."""
    rotation = 0.0
    if eyes is not None:
        (x0, y0), (x1, y1) = eyes
        rotation = -float(np.arctan2(-(y1 - y0), x1 - x0))
    side = ROI_SCALE * max(box.width, box.height)
    return box.x + box.width / 2, box.y + box.height / 2, side, rotation


class Landmarker:
    """Face Mesh with attention (468 points + 10 refined iris points, the model `mp.solutions.face_mesh` runs
    with refine_landmarks=True) on the region of one detected face.

    MediaPipe's FaceLandmarkCpu subgraph is run on its own with the region given: the face mesh solution would
    wrap it in a tracking loop with its own (short-range) face detector, association and loopback, which costs
    0.3 ms per frame and makes each frame's landmarks depend on the frame analysed before it (another student's,
    on a shared worker). Here every frame is analysed on its own: the same frame always gives the same points.
    The graph gets only a crop around the region, reduced so the region is at most 192 px (the model's input).
    When the region does not hold a face, the model's presence score is below 0.5 and no landmarks come out.
    One face per call: second faces are counted by the FaceDetector; pose and gaze are measured on the main face.
    """

    def __init__(self) -> None:
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.python import packet_creator, packet_getter
        from mediapipe.python._framework_bindings import calculator_graph, image_frame, resource_util

        resource_util.set_resource_dir(_mediapipe_root())
        config = text_format.Parse(
            """
            input_stream: "IMAGE:image"
            input_stream: "ROI:roi"
            output_stream: "LANDMARKS:landmarks"
            input_side_packet: "WITH_ATTENTION:with_attention"
            node {
              calculator: "FaceLandmarkCpu"
              input_stream: "IMAGE:image"
              input_stream: "ROI:roi"
              output_stream: "LANDMARKS:landmarks"
              input_side_packet: "WITH_ATTENTION:with_attention"
            }
            """,
            calculator_pb2.CalculatorGraphConfig(),
        )
        self._packets = packet_creator
        self._get_proto = packet_getter.get_proto
        self._srgb = image_frame.ImageFormat.SRGB
        self._outputs: dict[str, Any] = {}
        self._timestamp = 0
        self._graph = calculator_graph.CalculatorGraph(graph_config=on_calling_thread(config))
        self._graph.observe_output_stream("landmarks", self._outputs.__setitem__, True)
        self._graph.start_run({"with_attention": packet_creator.create_bool(True)})

    def close(self) -> None:
        """Release the graph."""
        self._graph.close()

    def landmarks(
        self,
        frame_bgr: np.ndarray,
        box: FaceBox,
        eyes: tuple[tuple[float, float], tuple[float, float]] | None = None,
        half: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """(478, 2) pixel coordinates in the frame (only USED_LANDMARKS are filled; the rest are 0), or None
        when the mesh finds no face in the region. `eyes`: the detector's eye keypoints, to level the region.
        `half`: the frame at half size, when the caller has it: a face big enough to need at most half the
        resolution (a region of 384 px or more) is cropped from it, a quarter of the pixels to resize."""
        from mediapipe.framework.formats import rect_pb2

        h, w = frame_bgr.shape[:2]
        cx, cy, side, rotation = face_roi(box, eyes)
        reach = side / 2 * (abs(np.cos(rotation)) + abs(np.sin(rotation)))  # the turned square's extent
        x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
        x1, y1 = min(w, int(np.ceil(cx + reach))), min(h, int(np.ceil(cy + reach)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        scale = min(1.0, MESH_SIDE / side)
        source, factor = frame_bgr, 1
        if half is not None and scale <= 0.5 and half.shape[1] * 2 == w and half.shape[0] * 2 == h:
            source, factor, scale = half, 2, scale * 2
            x0, y0, x1, y1 = x0 // 2 * 2, y0 // 2 * 2, x1 // 2 * 2, y1 // 2 * 2
        crop = source[y0 // factor : y1 // factor, x0 // factor : x1 // factor]
        if scale < 1:  # the model sees 192x192: resizing here saves the graph a larger copy and warp
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
        ch, cw = crop.shape[:2]
        sx, sy = cw / (x1 - x0), ch / (y1 - y0)  # frame pixels -> crop pixels (rounding makes them differ a bit)
        roi = rect_pb2.NormalizedRect(
            x_center=(cx - x0) * sx / cw,
            y_center=(cy - y0) * sy / ch,
            width=side * sx / cw,
            height=side * sy / ch,
            rotation=rotation,
        )
        self._outputs.clear()
        self._timestamp += 1
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        self._graph.add_packet_to_input_stream(
            "image", self._packets.create_image_frame(image_format=self._srgb, data=rgb).at(self._timestamp)
        )
        self._graph.add_packet_to_input_stream("roi", self._packets.create_proto(roi).at(self._timestamp))
        self._graph.wait_until_idle()
        packet = self._outputs.get("landmarks")
        if packet is None:
            return None
        landmarks = self._get_proto(packet).landmark
        if len(landmarks) < 478:
            return None
        points = np.zeros((478, 2))
        for index in USED_LANDMARKS:  # 39 of the 478 points are used: converting only those saves ~0.5 ms
            point = landmarks[index]
            points[index] = (point.x * cw / sx + x0, point.y * ch / sy + y0)
        return points


# --- geometry ------------------------------------------------------------------------------------------------


def head_pose(points: np.ndarray, width: int, height: int) -> tuple[float, float, float] | None:
    """Yaw, pitch, roll in degrees from the six POSE_LANDMARKS (pixels, in that order) by solvePnP against
    MODEL_POINTS with a pinhole camera of focal length = image width; None when solvePnP fails."""
    if points.shape != (6, 2) or not np.isfinite(points).all():
        return None
    focal = float(width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    # SQPnP: the global optimum without an initial guess, 4x faster than the iterative solver here; no
    # distortion coefficients (None, not zeros: that skips undistorting the points, 0.02-0.1 ms).
    ok, rvec, _ = cv2.solvePnP(MODEL_POINTS, points.astype(np.float64), camera, None, flags=cv2.SOLVEPNP_SQPNP)
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


def eye_gaze(points: np.ndarray) -> tuple[EyeGaze, EyeGaze]:
    """Per eye (image-left eye first): the iris centre projected on the corner-to-corner axis (x) and between
    the lids (y), and the lid gap over the eye width (openness; below ~0.1 the eye is closed or blinking)."""
    out = []
    for left, right, iris, top, bottom in EYES:
        axis = points[right] - points[left]
        width2 = max(float(np.dot(axis, axis)), 1e-9)
        x = float(np.dot(points[iris] - points[left], axis) / width2)
        gap = float(points[bottom][1] - points[top][1])
        y = float((points[iris][1] - points[top][1]) / gap) if abs(gap) > 1e-6 else 0.5
        out.append(EyeGaze(x, y, abs(gap) / np.sqrt(width2)))
    return out[0], out[1]


# --- identity ------------------------------------------------------------------------------------------------


def _uniform_lbp_table() -> np.ndarray:
    """Map the 256 8-bit LBP codes to 59 bins: the 58 'uniform' codes (≤ 2 bit transitions) and one for the rest."""
    table = np.full(256, 58, np.int64)
    label = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = label
            label += 1
    return table


_LBP_TABLE = _uniform_lbp_table()


def lbp_histogram(gray: np.ndarray, grid: int = 4) -> np.ndarray:
    """Uniform LBP (8 neighbours, radius 1) histograms over a grid x grid split, each L1-normalised, concatenated."""
    g = gray.astype(np.int16)
    centre = g[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.int64)
    shifts = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
    for bit, (dy, dx) in enumerate(shifts):
        neighbour = g[dy : dy + centre.shape[0], dx : dx + centre.shape[1]]
        code |= (neighbour >= centre).astype(np.int64) << bit
    labels = _LBP_TABLE[code]
    h, w = labels.shape
    parts = []
    for i in range(grid):
        for j in range(grid):
            cell = labels[i * h // grid : (i + 1) * h // grid, j * w // grid : (j + 1) * w // grid]
            hist = np.bincount(cell.ravel(), minlength=59).astype(np.float64)
            parts.append(hist / max(hist.sum(), 1.0))
    return np.concatenate(parts)


@dataclass(frozen=True)
class FaceSignature:
    """A face's texture (LBP histograms of an eye-aligned crop) and, when landmarks were found on a near-frontal
    face, its shape (landmark distances over the distance between the eyes)."""

    texture: np.ndarray
    geometry: np.ndarray | None


class IdentityEmbedder:
    """A weak, offline face signature: NOT a face-recognition model.

    Texture: uniform-LBP histograms on a 64x64 crop aligned on the eye corners (the classic LBPH features,
    as in cv2.face's LBPH recogniser). Shape: pairwise distances of 15 rigid landmarks, scaled by the eye
    distance, used only for near-frontal faces (|yaw| < 20°) because perspective changes them.
    What it can tell: the same person in the same room and light from an obviously different face or from a
    photo held up in poor light. What it cannot: reliably separate similar-looking people, or the same person
    after a big change of light, glasses or pose. Its similarity is evidence for a proctor, never proof; the
    thresholds in AnalyzerConfig were set from the same-person spread of our sample videos, not from an
    impostor set (we have none offline).
    """

    side = 64

    def signature(
        self, frame_bgr: np.ndarray, box: FaceBox, points: np.ndarray | None, yaw: float | None
    ) -> FaceSignature:
        """The signature of the face in `box` (aligned on the eyes when `points` are given)."""
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if points is not None:
            left, right = points[33], points[263]
            eye_distance = float(np.linalg.norm(right - left))
            angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
            centre = (left + right) / 2
            # Eyes level, eye distance = 0.5 of the crop, eye line at 0.35 of its height.
            scale = 0.5 * self.side / max(eye_distance, 1.0)
            matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
            matrix[0, 2] += self.side / 2 - centre[0]
            matrix[1, 2] += 0.35 * self.side - centre[1]
            crop = cv2.warpAffine(gray, matrix, (self.side, self.side), flags=cv2.INTER_LINEAR)
        else:
            h, w = gray.shape
            x0, y0 = max(0, box.x), max(0, box.y)
            x1, y1 = min(w, box.x + box.width), min(h, box.y + box.height)
            if x1 - x0 < 4 or y1 - y0 < 4:
                raise DetectorError(f"face box {box} lies outside the {w}x{h} frame")
            crop = cv2.resize(gray[y0:y1, x0:x1], (self.side, self.side), interpolation=cv2.INTER_AREA)
        texture = lbp_histogram(cv2.equalizeHist(crop))
        geometry = None
        if points is not None and yaw is not None and abs(yaw) < 20:
            p = points[list(GEOMETRY_LANDMARKS)]
            d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2)[np.triu_indices(len(p), 1)]
            geometry = d / max(float(np.linalg.norm(points[263] - points[33])), 1e-6)
        return FaceSignature(texture, geometry)

    @staticmethod
    def similarity(a: FaceSignature, b: FaceSignature) -> float:
        """0..1: histogram intersection of the textures, blended 70/30 with a shape score when both have one."""
        cells = len(a.texture) / 59
        texture = float(np.minimum(a.texture, b.texture).sum() / cells)
        if a.geometry is None or b.geometry is None:
            return texture
        shape = float(np.exp(-np.mean(np.abs(a.geometry - b.geometry)) / 0.05))
        return 0.7 * texture + 0.3 * shape
