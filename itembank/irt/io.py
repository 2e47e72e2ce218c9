"""The file formats of DESIGN.md (PURE): RESPONSES.csv in, PARAMS.csv and THETA.csv out, and back."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from itembank.irt.estimation import CalibrationResult, IRTInputError
from itembank.irt.models import DICHOTOMOUS, ItemParams
from itembank.irt.scoring import AbilityEstimates


@dataclass
class ResponseTable:
    """Responses with their person and item identifiers."""

    person_ids: list[str]
    item_ids: list[str]
    scores: np.ndarray


def read_responses(path: str | Path) -> ResponseTable:
    """Read RESPONSES.csv: optional first column `person_id`, then one column per item; empty = missing."""
    text = Path(path).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise IRTInputError(f"{path}: needs a header row and at least one examinee")
    header = [h.strip() for h in rows[0]]
    has_ids = header[0].lower() == "person_id"
    item_ids = header[1:] if has_ids else header
    if len(set(item_ids)) != len(item_ids):
        raise IRTInputError(f"{path}: repeated item column names")
    scores = np.full((len(rows) - 1, len(item_ids)), np.nan)
    person_ids = []
    for i, row in enumerate(rows[1:], start=2):
        cells = row[1:] if has_ids else row
        person_ids.append(row[0] if has_ids else str(i - 1))
        if len(cells) != len(item_ids):
            raise IRTInputError(f"{path}: row {i} has {len(cells)} item cells, the header has {len(item_ids)}")
        for j, cell in enumerate(cells):
            cell = cell.strip()
            if cell == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                raise IRTInputError(f"{path}: row {i}, column {item_ids[j]!r}: {cell!r} is not a number") from None
            if value != int(value) or value < 0:
                raise IRTInputError(f"{path}: row {i}, column {item_ids[j]!r}: {cell!r} is not a whole score >= 0")
            scores[i - 2, j] = value
    return ResponseTable(person_ids, item_ids, scores)


def params_rows(result: CalibrationResult) -> list[dict[str, object]]:
    """PARAMS.csv rows: item_id, model, a, b, c (+ b1..bk for polytomous), and standard errors."""
    p = result.params
    rows = []
    for j, item_id in enumerate(p.item_ids):
        row: dict[str, object] = {
            "item_id": item_id,
            "model": p.model,
            "a": _f(p.a[j]),
            "b": _f(p.b[j]),
            "c": _f(p.c[j]),
        }
        if p.model not in DICHOTOMOUS:
            for k, step in enumerate(p.steps[j]):
                row[f"b{k + 1}"] = "" if np.isnan(step) else _f(step)
        for name, values in result.se.items():
            row[f"{name}_se"] = "" if np.isnan(values[j]) else _f(values[j])
        rows.append(row)
    return rows


def _f(value: float) -> str:
    return f"{value:.6f}"


def write_params(result: CalibrationResult, path: str | Path) -> None:
    """Write PARAMS.csv."""
    rows = params_rows(result)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def read_params(path: str | Path) -> ItemParams:
    """Read PARAMS.csv back into ItemParams (all rows must share one model)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise IRTInputError(f"{path}: no item parameters")
    models = {r.get("model", "").strip() for r in rows}
    if len(models) != 1:
        raise IRTInputError(f"{path}: one model per file, found {sorted(models)}")
    model = models.pop()
    step_columns = sorted((k for k in rows[0] if k and k[0] == "b" and k[1:].isdigit()), key=lambda k: int(k[1:]))

    def number(row: dict[str, str], column: str, line: int, default: float | None = None) -> float:
        text = (row.get(column) or "").strip()
        if text == "" and default is not None:
            return default
        try:
            return float(text)
        except ValueError:
            raise IRTInputError(f"{path}: row {line}, column {column!r}: {text!r} is not a number") from None

    a = [number(r, "a", i + 2) for i, r in enumerate(rows)]
    b = [number(r, "b", i + 2, 0.0) for i, r in enumerate(rows)]
    c = [number(r, "c", i + 2, 0.0) for i, r in enumerate(rows)]
    steps = np.zeros((0, 0))
    if model not in DICHOTOMOUS:
        steps = np.array(
            [
                [number(r, col, i + 2) if (r.get(col) or "").strip() else np.nan for col in step_columns]
                for i, r in enumerate(rows)
            ]
        )
    return ItemParams(model, np.array(a), np.array(b), np.array(c), steps, [r["item_id"] for r in rows])


def write_theta(person_ids: list[str], estimates: AbilityEstimates, path: str | Path) -> None:
    """Write THETA.csv: person_id, theta, se (an infinite SE, for extreme ML patterns, is written as inf)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "theta", "se"])
        for pid, theta, se in zip(person_ids, estimates.theta, estimates.se, strict=True):
            writer.writerow([pid, f"{theta:.6f}", "inf" if np.isinf(se) else f"{se:.6f}"])
