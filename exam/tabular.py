"""Rows from an uploaded CSV or XLSX file (rosters, score sheets), with encodings schools actually send."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook

from exam.validation import Problem, ValidationFailed

MAX_ROWS = 50_000


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM) or, as Excel in China saves CSV, GB18030; anything else is refused."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed.of(
        f"{filename}: not a text file we can read.",
        [Problem("file", "save it as CSV UTF-8 or as an Excel workbook", value=filename)],
    )


def read_rows(filename: str, data: bytes) -> list[dict[str, str]]:
    """Read a header row and data rows; keys are lower-cased header names, values stripped strings.

    Row numbers in later error messages are spreadsheet row numbers: the header is row 1, data start at row 2.
    """
    suffix = Path(filename).suffix.lower()
    if not data:
        raise ValidationFailed.of(f"{filename}: the file is empty.", [Problem("file", "empty", value=filename)])
    if suffix == ".xlsx":
        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as err:  # openpyxl raises many types for broken workbooks
            raise ValidationFailed.of(
                f"{filename}: not a readable Excel workbook.", [Problem("file", str(err)[:200], value=filename)]
            ) from err
        raw = [["" if c is None else str(c).strip() for c in row] for row in sheet.iter_rows(values_only=True)]
    elif suffix in (".csv", ".txt"):
        raw = [[c.strip() for c in row] for row in csv.reader(io.StringIO(decode_text(data, filename)))]
    else:
        raise ValidationFailed.of(
            f"{filename}: unsupported file type.", [Problem("file", "use .csv or .xlsx", value=suffix or filename)]
        )
    raw = [row for row in raw if any(row)]
    if not raw:
        raise ValidationFailed.of(f"{filename}: no rows.", [Problem("file", "no header row", value=filename)])
    if len(raw) > MAX_ROWS + 1:
        raise ValidationFailed.of(
            f"{filename}: too many rows.", [Problem("file", f"at most {MAX_ROWS} rows", value=len(raw) - 1)]
        )
    header = [h.lower().replace(" ", "_") for h in raw[0]]
    return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in raw[1:]]


def require_columns(filename: str, rows: list[dict[str, str]], columns: list[str]) -> None:
    """Refuse a file missing any of `columns`, naming them."""
    present = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValidationFailed.of(
            f"{filename}: required columns are missing.",
            [Problem("header", f"missing column {c!r}", value=sorted(present)) for c in missing],
        )
