"""Pick a reader from a file's extension or content, with a size limit against oversized uploads (PURE)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from itembank.formats.aiken import read_aiken
from itembank.formats.gift import read_gift
from itembank.formats.model import ImportResult
from itembank.formats.tabular import read_csv, read_json

MAX_BYTES = 50 * 1024 * 1024

READERS: dict[str, Callable[[bytes], ImportResult]] = {
    "aiken": read_aiken, "gift": read_gift, "csv": read_csv, "json": read_json,
}


def detect_format(name: str, data: bytes) -> str:
    """Name the format of a file; raise ValueError naming the file when it is not one we read."""
    ext = Path(name).suffix.lower()
    if ext in (".json", ".csv", ".gift"):
        return ext[1:]
    if ext == ".txt":
        # Aiken files always carry `ANSWER:` lines; GIFT uses braces for answers.
        return "aiken" if b"ANSWER:" in data else "gift"
    raise ValueError(f"{name}: unsupported item file type {ext or '(no extension)'!r}")


def read_items(name: str, data: bytes) -> ImportResult:
    """Read any supported item file after checking its size."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes exceeds the {MAX_BYTES}-byte limit")
    return READERS[detect_format(name, data)](data)
