"""Probe: does fine-tuning the pretrained encoder as one item's classifier beat the frozen-encoder stack?

Fine-tunes all-MiniLM-L6-v2 (the grader's encoder, local weights only) with a linear head on one ASAP-SAS
prompt's training answers (soft labels from both raters, AdamW, linear warm-up and decay).

- Without `--folds`: one fit on all training answers; after each epoch, validation QWK against Score1 (argmax and
  rounded expected score), exact agreement, exact agreement on the 50 % auto-accepted by class probability, and the
  epoch's seconds.
- With `--folds 5`: the way a stacked grader would need it, one fit per fold of the grader's own split
  (`grading.ml.fold_splits`), giving out-of-fold probabilities for the training answers and the folds' mean for the
  validation answers. It prints the averaged models' figures, then fits the grader (`fit_item`) and compares its
  exact agreement at 50 % coverage with that of a confidence model that also reads the fine-tuned probabilities
  (learnt on the out-of-fold training answers, measured on validation).

Compare with `bench/grading_bench.py`'s row for the same prompt.

    .venv/bin/python bench/finetune_probe.py --prompt 2 --epochs 8
    .venv/bin/python bench/finetune_probe.py --prompt 2 --epochs 6 --folds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.grading_bench import DATA, load  # noqa: E402
from grading.encoder import model_dir  # noqa: E402
from grading.ml import fit_item, fold_splits, qwk, threshold_for_coverage  # noqa: E402


def fine_tune(
    texts: list[str],
    soft: np.ndarray,
    predict: list[list[str]],
    *,
    epochs: int,
    batch: int,
    max_tokens: int,
    seed: int,
    after_epoch: Callable[[int, float, np.ndarray], None] | None = None,
) -> list[np.ndarray]:
    """Fine-tune a fresh copy of the encoder with a linear head on `texts` (target distributions `soft`) and return
    its class probabilities for each list in `predict`. `after_epoch(epoch, seconds, probabilities of predict[0])`
    is called after every epoch when given."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = str(model_dir())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True)
    head = torch.nn.Linear(encoder.config.hidden_size, soft.shape[1])
    dropout = torch.nn.Dropout(0.1)

    def logits(part: list[str]) -> torch.Tensor:
        batch_ = tokenizer(part, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        hidden = encoder(**batch_).last_hidden_state
        mask = batch_["attention_mask"].unsqueeze(-1).float()
        return head(dropout((hidden * mask).sum(1) / mask.sum(1)))

    def batches(items: list[str], order: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
        for start in range(0, len(order), size):
            index = order[start : start + size]
            yield index, [items[i] or "" for i in index]

    def probabilities(items: list[str]) -> np.ndarray:
        encoder.eval()
        dropout.eval()
        out = np.zeros((len(items), soft.shape[1]))
        with torch.inference_mode():
            for index, part in batches(items, np.argsort([len(t) for t in items]), 64):
                out[index] = torch.softmax(logits(part), -1).numpy()
        return out

    steps = epochs * -(-len(texts) // batch)
    optimiser = torch.optim.AdamW(
        [{"params": encoder.parameters(), "lr": 5e-5}, {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / (0.1 * steps)) * max(0.0, (steps - step) / steps)
    )
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        encoder.train()
        dropout.train()
        for index, part in batches(texts, rng.permutation(len(texts)), batch):
            loss = -(torch.from_numpy(soft[index]) * torch.log_softmax(logits(part), -1)).sum(-1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        if after_epoch is not None:
            after_epoch(epoch, time.perf_counter() - start, probabilities(predict[0]))
    return [probabilities(items) for items in predict]


def auto_accepted_exact(confidence: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> float:
    """Exact agreement on the answers auto-accepted at the threshold that accepts 50 %."""
    accepted = confidence >= threshold_for_coverage(confidence, 0.5)
    return float(np.mean(scores[accepted] == truth[accepted]))


def figures(probs: np.ndarray, truth: np.ndarray) -> str:
    """QWK (argmax and rounded expected score), exact agreement and exact agreement at 50 % coverage."""
    predicted = probs.argmax(1)
    expected = np.clip(np.rint(probs @ np.arange(probs.shape[1])), 0, probs.shape[1] - 1).astype(int)
    return (
        f"QWK {qwk(predicted, truth):.3f} (expected score {qwk(expected, truth):.3f}); exact "
        f"{np.mean(predicted == truth):.3f}; exact on the 50 % most probable "
        f"{auto_accepted_exact(probs.max(1), predicted, truth):.3f}"
    )


def confidence_inputs(confidence: np.ndarray, scores: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The grader's confidence (as log-odds) beside what the fine-tuned probabilities say of its score."""
    clipped = np.clip(confidence, 1e-6, 1 - 1e-6)
    rows = np.arange(len(scores))
    return np.column_stack(
        [np.log(clipped / (1 - clipped)), probs[rows, scores], probs.max(1), probs.argmax(1) == scores]
    )


def main() -> None:
    """Fine-tune on one prompt and print the validation figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=0, help="fit once per fold of the grader's split (0: once)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    for name in ("epochs", "batch", "max_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.folds == 1 or args.folds < 0:
        parser.error(f"--folds must be 0 (one fit) or at least 2, not {args.folds}")
    if not DATA.exists():
        print(f"{DATA} is not here: nothing to probe")
        return
    train_file, val_file = (DATA / f"prompt{args.prompt}-{split}.csv" for split in ("train", "val"))
    for file in (train_file, val_file):
        if not file.is_file():
            parser.error(f"--prompt {args.prompt}: {file} does not exist")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    train_x, train_y, train_y2 = load(train_file)
    val_x, val_y, _ = load(val_file)
    classes = int(max(train_y.max(), train_y2.max())) + 1
    soft = np.zeros((len(train_y), classes), dtype=np.float32)
    np.add.at(soft, (np.arange(len(train_y)), train_y), 0.5)
    np.add.at(soft, (np.arange(len(train_y)), train_y2), 0.5)
    print(f"prompt {args.prompt}: {len(train_x)} training answers, {len(val_x)} validation, {classes} scores")
    settings = {"epochs": args.epochs, "batch": args.batch, "max_tokens": args.max_tokens}
    if not args.folds:
        fine_tune(
            train_x,
            soft,
            [val_x],
            seed=0,
            after_epoch=lambda epoch, seconds, probs: print(
                f"epoch {epoch}: {seconds:.0f} s; {figures(probs, val_y)}", flush=True
            ),
            **settings,
        )
        return

    out_of_fold = np.zeros((len(train_y), classes))
    val_probs = []
    for fold, (train, test) in enumerate(fold_splits(train_y, args.folds, 0)):
        start = time.perf_counter()
        held_out, val_part = fine_tune(
            [train_x[i] for i in train], soft[train], [[train_x[i] for i in test], val_x], seed=fold, **settings
        )
        out_of_fold[test] = held_out
        val_probs.append(val_part)
        print(
            f"fold {fold + 1}: {time.perf_counter() - start:.0f} s on {len(train)} answers; out-of-fold exact "
            f"{np.mean(held_out.argmax(1) == train_y[test]):.3f}",
            flush=True,
        )
    print(f"the {len(val_probs)} fold models averaged: {figures(np.mean(val_probs, axis=0), val_y)}")
    start = time.perf_counter()
    grader = fit_item(str(args.prompt), train_x, train_y, second_scores=train_y2)
    scores, confidence = grader.predict(val_x)
    combined = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        confidence_inputs(grader.oof_confidence, grader.oof_scores, out_of_fold), grader.oof_scores == grader.oof_truth
    )
    both = combined.predict_proba(confidence_inputs(confidence, scores, np.mean(val_probs, axis=0)))[:, 1]
    print(
        f"grader (fitted and scored in {time.perf_counter() - start:.0f} s): QWK {qwk(scores, val_y):.3f}; exact at "
        f"50 % coverage {auto_accepted_exact(confidence, scores, val_y):.3f}, with the fine-tuned probabilities in "
        f"its confidence {auto_accepted_exact(both, scores, val_y):.3f}"
    )


if __name__ == "__main__":
    main()
