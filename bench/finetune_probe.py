"""Probe: does fine-tuning the pretrained encoder as one item's classifier beat the frozen-encoder stack?

Fine-tunes all-MiniLM-L6-v2 (the grader's encoder, local weights only) with a linear head on one ASAP-SAS
prompt's training answers (soft labels from both raters, AdamW, linear warm-up and decay) and prints, after each
epoch, validation QWK against Score1 (argmax and rounded expected score), exact agreement, exact agreement on the
50 % with the highest class probability, and the epoch's seconds. Compare with `bench/grading_bench.py`'s row for
the same prompt. One fit, no folds: a grader would need five of these per item for its out-of-fold features.

    .venv/bin/python bench/finetune_probe.py --prompt 2 --epochs 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.grading_bench import DATA, load  # noqa: E402
from grading.encoder import model_dir  # noqa: E402
from grading.ml import qwk, threshold_for_coverage  # noqa: E402


def main() -> None:
    """Fine-tune on one prompt and print the per-epoch validation figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"{DATA} is not here: nothing to probe")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    torch.manual_seed(0)
    train_x, train_y, train_y2 = load(DATA / f"prompt{args.prompt}-train.csv")
    val_x, val_y, _ = load(DATA / f"prompt{args.prompt}-val.csv")
    classes = int(max(train_y.max(), train_y2.max())) + 1
    path = str(model_dir())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True)
    head = torch.nn.Linear(encoder.config.hidden_size, classes)
    dropout = torch.nn.Dropout(0.1)

    def logits(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=args.max_tokens, return_tensors="pt")
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return head(dropout((hidden * mask).sum(1) / mask.sum(1)))

    def batches(texts: list[str], order: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
        for start in range(0, len(order), size):
            index = order[start : start + size]
            yield index, [texts[i] or "" for i in index]

    soft = np.zeros((len(train_y), classes), dtype=np.float32)
    np.add.at(soft, (np.arange(len(train_y)), train_y), 0.5)
    np.add.at(soft, (np.arange(len(train_y)), train_y2), 0.5)
    steps = args.epochs * -(-len(train_x) // args.batch)
    optimiser = torch.optim.AdamW(
        [{"params": encoder.parameters(), "lr": 5e-5}, {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / (0.1 * steps)) * max(0.0, (steps - step) / steps)
    )
    rng = np.random.default_rng(0)
    print(f"prompt {args.prompt}: {len(train_x)} training answers, {len(val_x)} validation, {classes} scores")
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        encoder.train()
        dropout.train()
        for index, texts in batches(train_x, rng.permutation(len(train_x)), args.batch):
            loss = -(torch.from_numpy(soft[index]) * torch.log_softmax(logits(texts), -1)).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        seconds = time.perf_counter() - start
        encoder.eval()
        dropout.eval()
        probs = np.zeros((len(val_x), classes))
        with torch.inference_mode():
            for index, texts in batches(val_x, np.argsort([len(t) for t in val_x]), 64):
                probs[index] = torch.softmax(logits(texts), -1).numpy()
        predicted = probs.argmax(1)
        expected = np.clip(np.rint(probs @ np.arange(classes)), 0, classes - 1).astype(int)
        confidence = probs.max(1)
        accepted = confidence >= threshold_for_coverage(confidence, 0.5)
        print(
            f"epoch {epoch}: {seconds:.0f} s; QWK {qwk(predicted, val_y):.3f} (expected score "
            f"{qwk(expected, val_y):.3f}); exact {np.mean(predicted == val_y):.3f}; exact on the 50 % most "
            f"probable {np.mean(predicted[accepted] == val_y[accepted]):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
