"""Neutral interchange dataclasses shared by every reader and writer (PURE: no Flask/SQLAlchemy).

Canonical keys (as scored by grading.objective): single_choice "A"; multiple_choice ["A", "C"]; true_false bool;
fill_blank [{"accepted": [...], "numeric": bool, "tolerance": float, "units": [...]}] (a blank may also carry
"choices": the texts offered for it); numerical {"value", "tolerance", "units": [...]}; matching
{left_key: right_key} with options marked "side": "left"/"right"; ordering [option keys in order];
short_answer/essay {"reference": text} or None. Blanks in stems are written as `____`.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field
from typing import Any

from itembank.content import sanitize_html

CANONICAL_TYPES: tuple[str, ...] = (
    "single_choice",
    "multiple_choice",
    "true_false",
    "numerical",
    "fill_blank",
    "matching",
    "ordering",
    "short_answer",
    "essay",
)
BLANK = "____"


class FormatError(ValueError):
    """A file that cannot be read at all (hostile, broken, wrong encoding); nothing is imported from it."""


def decode_text(data: bytes, warnings: list[str] | None = None) -> str:
    """Decode UTF-8 (BOM optional), UTF-16 with BOM, or GBK/GB18030 (what Chinese Windows tools write).

    A GB18030 conversion is reported in `warnings` so the teacher knows the file was not UTF-8.
    """
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FormatError(f"text has a UTF-16 byte-order mark but invalid UTF-16 at byte {exc.start}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"text is neither UTF-8 (invalid byte at {utf8_error.start}) nor GBK/GB18030 (byte {exc.start}); "
                "save the file as UTF-8"
            ) from exc
        if warnings is not None:
            warnings.append("converted from GB18030 (GBK): the file was not UTF-8")
        return text


@dataclass
class Asset:
    """A media file carried by an item."""

    data: bytes
    mime: str


@dataclass
class ItemDraft:
    """One item as read from, or to be written to, an exchange file."""

    source_id: str
    type: str
    stem: str
    key: Any = None
    options: list[dict[str, Any]] = field(default_factory=list)
    points: float = 1.0
    seconds: int | None = None
    knowledge_points: list[str] = field(default_factory=list)
    level: str | None = None
    tags: list[str] = field(default_factory=list)
    explanation: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in CANONICAL_TYPES:
            raise ValueError(f"item {self.source_id!r}: type {self.type!r} is not one of {CANONICAL_TYPES}")
        # One sanitiser for the whole system (itembank.content): files from other systems are untrusted HTML.
        self.stem = sanitize_html(self.stem)
        self.options = [{**o, "text": sanitize_html(str(o.get("text", "")))} for o in self.options]
        if self.explanation is not None:
            self.explanation = sanitize_html(self.explanation) or None


@dataclass
class ImportResult:
    """Outcome of reading one file: every item is either a draft or rejected with a reason."""

    drafts: list[ItemDraft] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: ImportResult) -> None:
        """Append another result's drafts, rejections and warnings (used for packages of several files)."""
        self.drafts.extend(other.drafts)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)


def letters(n: int) -> list[str]:
    """Option labels A, B, ... Z, then A1, B1, ... for very long option lists."""
    return [chr(ord("A") + i % 26) + (str(i // 26) if i >= 26 else "") for i in range(n)]


def text_to_html(text: str, fmt: str = "html") -> str:
    """Item text in one of the formats Moodle and GIFT use (html, plain, moodle auto-format, markdown) as HTML.

    Markdown support is the subset teachers use in items: paragraphs, line breaks, **bold**, *italic*, `code`.
    """
    fmt = fmt.lower().replace("_text", "").replace("moodle_auto_format", "plain")
    if fmt == "html":
        return text.strip()
    escaped = html.escape(text.strip(), quote=False)
    if fmt == "markdown":
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", escaped)
        escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
        paras = [p.strip() for p in re.split(r"\n\s*\n", escaped) if p.strip()]
        return (
            "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paras)
            if len(paras) > 1
            else (paras[0].replace("\n", "<br>") if paras else "")
        )
    return escaped.replace("\n", "<br>")
