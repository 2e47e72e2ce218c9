"""The two entry points of the formats package: read any supported file, write any supported format (PURE).

Reading picks the format from the extension and the content (zip with imsmanifest.xml -> QTI package, zip with
word/document.xml -> docx, XML root quiz -> Moodle, assessmentItem / qti-assessment-item -> QTI), after size
checks. Hostile or broken files raise FormatError (a ValueError) and nothing is returned.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from itembank.formats.model import FormatError, ImportResult, ItemDraft, decode_text

MAX_BYTES = 50 * 1024 * 1024

FORMATS: tuple[str, ...] = ("xlsx", "csv", "json", "qti21", "qti30", "moodle", "gift", "aiken", "docx")
EXTENSIONS: dict[str, str] = {
    "xlsx": ".xlsx",
    "csv": ".csv",
    "json": ".json",
    "qti21": ".zip",
    "qti30": ".zip",
    "moodle": ".xml",
    "gift": ".gift",
    "aiken": ".txt",
    "docx": ".docx",
}
MIME_TYPES: dict[str, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "json": "application/json",
    "qti21": "application/zip",
    "qti30": "application/zip",
    "moodle": "application/xml",
    "gift": "text/plain",
    "aiken": "text/plain",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_ZIP_MAGIC = b"PK\x03\x04"


def _readers() -> dict[str, Callable[[bytes], ImportResult]]:
    # Imported here so that a format module's heavy dependency (python-docx, openpyxl) loads only when used.
    from itembank.formats import aiken, docx, gift, moodle, qti, tabular

    return {
        "aiken": aiken.read_aiken,
        "gift": gift.read_gift,
        "csv": tabular.read_csv,
        "json": tabular.read_json,
        "xlsx": tabular.read_xlsx,
        "moodle": moodle.read_moodle,
        "qti": qti.read_qti_item,
        "qti_package": qti.read_qti_package,
        "docx": docx.read_docx,
    }


def _zip_kind(name: str, data: bytes) -> str:
    try:
        members = {n.replace("\\", "/") for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FormatError(f"{name}: not a readable zip archive ({exc})") from exc
    if "imsmanifest.xml" in members:
        return "qti_package"
    if "word/document.xml" in members:
        return "docx"
    if "xl/workbook.xml" in members:
        return "xlsx"
    raise FormatError(f"{name}: zip archive holds neither imsmanifest.xml (QTI package) nor a Word/Excel document")


def _xml_kind(name: str, data: bytes) -> str:
    head = (
        data[:4096].decode("utf-8", "ignore")
        if not data.startswith((b"\xff\xfe", b"\xfe\xff"))
        else data[:8192].decode("utf-16", "ignore")
    )
    head = re.sub(r"<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", "", head, flags=re.S)
    root = re.search(r"<(?!\?|!)([\w.-]+:)?([\w.-]+)", head)
    tag = root.group(2) if root else ""
    if tag == "quiz":
        return "moodle"
    if tag in ("assessmentItem", "qti-assessment-item"):
        return "qti"
    if tag == "manifest":
        raise FormatError(f"{name}: a bare imsmanifest.xml; upload the whole content package as a .zip")
    raise FormatError(f"{name}: XML root element <{tag or '?'}> is neither Moodle <quiz> nor a QTI assessment item")


def detect_format(name: str, data: bytes) -> str:
    """Name the reader for a file ("qti", "qti_package", "moodle", ...); raise FormatError when unsupported."""
    ext = Path(name).suffix.lower()
    if data.startswith(_ZIP_MAGIC) or ext in (".zip", ".docx"):
        return _zip_kind(name, data)
    if ext in (".json", ".csv", ".gift"):
        return ext[1:]
    if ext == ".xlsx":
        return "xlsx"
    if (
        ext == ".xml"
        or data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<")
        or data.startswith((b"\xff\xfe<", b"\xfe\xff\0<"))
    ):
        return _xml_kind(name, data)
    if ext == ".txt":
        # Aiken files always carry `ANSWER:` lines; GIFT uses braces for answers.
        try:
            text = decode_text(data)
        except FormatError:
            return "gift"  # the reader reports the encoding problem
        return "aiken" if re.search(r"^ANSWER:", text, flags=re.M) else "gift"
    raise FormatError(f"{name}: unsupported item file type {ext or '(no extension)'!r}")


def read_items(filename: str, data: bytes) -> ImportResult:
    """Read any supported item file: every item becomes a draft or a rejection with a reason.

    Raises FormatError (a ValueError) for files that cannot be read safely at all; nothing is returned then.
    """
    if not data or not data.strip():
        raise FormatError(f"{filename}: the file is empty")
    if len(data) > MAX_BYTES:
        raise FormatError(f"{filename}: {len(data)} bytes exceeds the {MAX_BYTES}-byte limit")
    kind = detect_format(filename, data)
    try:
        return _readers()[kind](data)
    except FormatError as exc:
        raise FormatError(f"{filename}: {exc}") from exc
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # A reader met a structure it did not expect: still a clear refusal, never a half-read file.
        raise FormatError(f"{filename}: cannot be read as {kind} ({type(exc).__name__}: {exc})") from exc


def write_items(fmt: str, drafts: list[ItemDraft], **opts: Any) -> bytes:
    """Write drafts in one of FORMATS.

    Options: `title` (qti21, qti30, moodle, docx: the package/quiz/document title) and `locale` ("zh" or "en":
    the headings of a docx export). Raises ValueError naming the item when a draft cannot be expressed in the
    format (e.g. a non-choice item in Aiken), and for unknown formats or options.
    """
    from itembank.formats import aiken, docx, gift, moodle, qti, tabular

    allowed = {"qti21": {"title"}, "qti30": {"title"}, "moodle": {"title"}, "docx": {"title", "locale"}}
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = set(opts) - allowed.get(fmt, set())
    if unknown:
        raise ValueError(f"unknown export option(s) {sorted(unknown)} for format {fmt}")
    title = str(opts.get("title") or "")
    writers: dict[str, Callable[[list[ItemDraft]], bytes]] = {
        "xlsx": tabular.write_xlsx,
        "csv": tabular.write_csv,
        "json": tabular.write_json,
        "qti21": lambda ds: qti.write_qti_package(ds, version="2.1", title=title),
        "qti30": lambda ds: qti.write_qti_package(ds, version="3.0", title=title),
        "moodle": lambda ds: moodle.write_moodle(ds, title=title),
        "gift": gift.write_gift,
        "aiken": aiken.write_aiken,
        "docx": lambda ds: docx.write_docx(ds, locale=str(opts.get("locale") or "zh"), title=title),
    }
    return writers[fmt](drafts)
