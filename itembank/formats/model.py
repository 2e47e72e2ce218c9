"""Neutral interchange dataclasses shared by every reader and writer (PURE: no Flask/SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nh3

CANONICAL_TYPES: tuple[str, ...] = (
    "single_choice", "multiple_choice", "true_false", "numerical", "fill_blank",
    "matching", "ordering", "short_answer", "essay",
)

# MathML tags are allowed so formulas survive sanitising; TeX delimiters are plain text and survive anyway.
_MATHML = {"math", "mi", "mn", "mo", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
           "mtext", "mtable", "mtr", "mtd", "mover", "munder", "munderover", "mspace", "semantics",
           "annotation"}
_ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | _MATHML | {"img", "span", "sub", "sup", "table", "tr", "td", "th"}


def sanitize_html(html: str) -> str:
    """Strip scripts and unsafe attributes from item HTML, keeping MathML and images."""
    return nh3.clean(html, tags=_ALLOWED_TAGS,
                     attributes={"img": {"src", "alt", "width", "height"}, "*": {"class"}})


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
        self.stem = sanitize_html(self.stem)


@dataclass
class ImportResult:
    """Outcome of reading one file: every item is either a draft or rejected with a reason."""

    drafts: list[ItemDraft] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
