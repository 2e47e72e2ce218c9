"""Our own one-row-per-item template in JSON and CSV (PURE).

Columns: source_id, type, stem, options (JSON list of {key, text}), key (JSON in the canonical key format),
points, seconds, knowledge_points ("|"-separated paths), level, tags ("|"-separated), explanation,
settings (JSON object). In JSON files the same fields are native values of one object per item.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from itembank.formats.model import ImportResult, ItemDraft, decode_text

COLUMNS = [
    "source_id",
    "type",
    "stem",
    "options",
    "key",
    "points",
    "seconds",
    "knowledge_points",
    "level",
    "tags",
    "explanation",
    "settings",
]
_JSON_COLUMNS = {"options", "key", "settings"}
_LIST_COLUMNS = {"knowledge_points", "tags"}


def _draft(rec: dict[str, Any]) -> ItemDraft:
    seconds = rec.get("seconds")
    return ItemDraft(
        source_id=str(rec["source_id"]),
        type=str(rec["type"]),
        stem=str(rec["stem"]),
        options=list(rec.get("options") or []),
        key=rec.get("key"),
        points=float(rec.get("points") or 1.0),
        seconds=int(seconds) if seconds not in (None, "") else None,
        knowledge_points=list(rec.get("knowledge_points") or []),
        level=rec.get("level") or None,
        tags=list(rec.get("tags") or []),
        explanation=rec.get("explanation") or None,
        settings=dict(rec.get("settings") or {}),
    )


def read_json(data: bytes) -> ImportResult:
    """Read a JSON list of item objects; a bad item is rejected naming its index and problem."""
    result = ImportResult()
    try:
        records = json.loads(decode_text(data, result.warnings))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(records, list):
        raise ValueError("JSON item file must be a list of item objects")
    for i, rec in enumerate(records):
        try:
            result.drafts.append(_draft(rec))
        except (KeyError, TypeError, ValueError) as exc:
            result.rejected.append({"item": f"#{i + 1}", "reason": f"item {i + 1}: {exc!r}"})
    return result


def read_csv(data: bytes) -> ImportResult:
    """Read the CSV template; a bad row is rejected naming its row number, column and value."""
    warnings: list[str] = []
    reader = csv.DictReader(io.StringIO(decode_text(data, warnings)))
    result = _read_rows(reader.fieldnames or [], enumerate(reader, start=2), "CSV")
    result.warnings[:0] = warnings
    return result


def read_xlsx(data: bytes) -> ImportResult:
    """Read the same template from the first sheet of an Excel workbook (header in row 1)."""
    from openpyxl import load_workbook

    from itembank.formats.safety import read_zip

    read_zip(data, "Excel workbook")  # size, ratio and path checks before openpyxl opens it
    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises many types for broken or non-xlsx files
        raise ValueError(f"not a readable Excel workbook ({type(exc).__name__})") from exc
    rows = list(sheet.iter_rows(values_only=True))
    if not rows:
        raise ValueError("the workbook's first sheet is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    records = (
        (n, {h: "" if v is None else str(v) for h, v in zip(header, row, strict=False) if h})
        for n, row in enumerate(rows[1:], start=2)
        if any(v not in (None, "") for v in row)
    )
    return _read_rows(header, records, "XLSX")


def _read_rows(header: list[str], rows: Any, kind: str) -> ImportResult:
    result = ImportResult()
    missing = {"source_id", "type", "stem"} - set(header)
    if missing:
        raise ValueError(f"{kind} header lacks columns {sorted(missing)}")
    for row_no, row in rows:
        rec: dict[str, Any] = dict(row)
        try:
            for col in _JSON_COLUMNS:
                if rec.get(col):
                    try:
                        rec[col] = json.loads(rec[col])
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"column {col}: value {rec[col]!r} is not JSON") from exc
            for col in _LIST_COLUMNS:
                rec[col] = [p.strip() for p in (rec.get(col) or "").split("|") if p.strip()]
            result.drafts.append(_draft(rec))
        except (KeyError, TypeError, ValueError) as exc:
            result.rejected.append({"item": rec.get("source_id") or f"row {row_no}", "reason": f"row {row_no}: {exc}"})
    return result


def _record(d: ItemDraft) -> dict[str, Any]:
    rec = asdict(d)
    rec.pop("assets")
    return rec


def write_json(drafts: list[ItemDraft]) -> bytes:
    """Write drafts as the JSON template (assets are not carried by this format)."""
    return json.dumps([_record(d) for d in drafts], ensure_ascii=False, indent=1).encode("utf-8")


def write_csv(drafts: list[ItemDraft]) -> bytes:
    """Write drafts as the CSV template, UTF-8 with BOM so Excel opens Chinese text correctly."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for d in drafts:
        rec = _record(d)
        for col in _JSON_COLUMNS:
            rec[col] = json.dumps(rec[col], ensure_ascii=False)
        for col in _LIST_COLUMNS:
            rec[col] = "|".join(rec[col])
        writer.writerow(rec)
    return buf.getvalue().encode("utf-8-sig")


def write_xlsx(drafts: list[ItemDraft]) -> bytes:
    """Write drafts as the template in an Excel workbook (one row per item, JSON cells as in the CSV)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "items"
    sheet.append(COLUMNS)
    for d in drafts:
        rec = _record(d)
        for col in _JSON_COLUMNS:
            rec[col] = json.dumps(rec[col], ensure_ascii=False)
        for col in _LIST_COLUMNS:
            rec[col] = "|".join(rec[col])
        sheet.append(["" if rec[c] is None else rec[c] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
