"""Item bank: subjects, knowledge points, banks, items and their immutable versions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam.auth.models import User
from exam.db import TimestampMixin, db, str_enum, utcnow


class ItemType(enum.StrEnum):
    """Canonical item types (names used in files, APIs and reports; see DESIGN.md)."""

    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    TRUE_FALSE = "true_false"
    FILL_BLANK = "fill_blank"
    NUMERICAL = "numerical"
    SHORT_ANSWER = "short_answer"
    ESSAY = "essay"
    MATCHING = "matching"
    ORDERING = "ordering"


CHOICE_TYPES = frozenset({ItemType.SINGLE_CHOICE, ItemType.MULTIPLE_CHOICE})


class Subject(db.Model):  # type: ignore[name-defined,misc]
    """A school subject; knowledge points form a hierarchy per subject."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))

    def name(self, locale: str) -> str:
        """The subject's name in `locale` (zh* gives Chinese)."""
        return self.name_zh if locale.startswith("zh") else self.name_en


class KnowledgePoint(db.Model):  # type: ignore[name-defined,misc]
    """A node of a subject's knowledge hierarchy, e.g. 3.2 "quadratic functions" under 3 "functions"."""

    __tablename__ = "knowledge_points"
    __table_args__ = (UniqueConstraint("subject_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_points.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))

    subject: Mapped[Subject] = relationship()
    parent: Mapped[KnowledgePoint | None] = relationship(remote_side=[id])

    def name(self, locale: str) -> str:
        """The knowledge point's name in `locale`."""
        return self.name_zh if locale.startswith("zh") else self.name_en

    def ancestors_and_self(self) -> list[KnowledgePoint]:
        """Path from the root down to this node."""
        path: list[KnowledgePoint] = []
        node: KnowledgePoint | None = self
        while node is not None:
            path.append(node)
            node = node.parent
        return path[::-1]


class ItemBank(TimestampMixin, db.Model):  # type: ignore[name-defined,misc]
    """A collection of items owned by an examiner and possibly shared with others."""

    __tablename__ = "item_banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)

    subject: Mapped[Subject] = relationship()
    owner: Mapped[User] = relationship()
    shares: Mapped[list[BankShare]] = relationship(back_populates="bank", cascade="all, delete-orphan")


class BankShare(db.Model):  # type: ignore[name-defined,misc]
    """Access to a bank for a user who does not own it."""

    __tablename__ = "bank_shares"

    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    can_edit: Mapped[bool] = mapped_column(default=True)

    bank: Mapped[ItemBank] = relationship(back_populates="shares")
    user: Mapped[User] = relationship()


item_knowledge_points = Table(
    "item_knowledge_points",
    db.metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("knowledge_point_id", Integer, ForeignKey("knowledge_points.id", ondelete="CASCADE"), primary_key=True),
)


class Item(TimestampMixin, db.Model):  # type: ignore[name-defined,misc]
    """An item's identity and bank-level metadata; its content lives in immutable-once-used versions.

    IRT parameters live here (not on versions) because calibration describes the item as the bank uses it now;
    every accepted calibration is kept in the calibration history.
    """

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("bank_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("item_banks.id", ondelete="CASCADE"), index=True)
    type: Mapped[ItemType] = mapped_column(str_enum(ItemType, 30))
    source_id: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(default=3)  # difficulty level 1 (easy) .. 5 (hard), set by examiners
    cognitive_level: Mapped[str | None] = mapped_column(String(40))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | retired
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("item_versions.id", use_alter=True, ondelete="SET NULL")
    )
    irt_model: Mapped[str | None] = mapped_column(String(10))
    irt_a: Mapped[float | None] = mapped_column(Float)
    irt_b: Mapped[float | None] = mapped_column(Float)
    irt_c: Mapped[float | None] = mapped_column(Float)
    irt_thresholds: Mapped[list[Any] | None] = mapped_column(JSON)
    exposure_count: Mapped[int] = mapped_column(default=0)

    bank: Mapped[ItemBank] = relationship()
    current_version: Mapped[ItemVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)
    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", foreign_keys="ItemVersion.item_id", order_by="ItemVersion.number"
    )
    knowledge_points: Mapped[list[KnowledgePoint]] = relationship(secondary=item_knowledge_points)


class ItemVersion(db.Model):  # type: ignore[name-defined,misc]
    """The content a student sees. Frozen once a delivered exam uses it; edits then create a new version.

    `key` and `options` use the canonical JSON formats of grading.objective (see DESIGN.md).
    """

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(default=1)
    stem: Mapped[str] = mapped_column(Text)  # sanitised HTML; TeX kept as \( \) and rendered to MathML
    options: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"key": "A", "text": html}, ...]
    key: Mapped[Any] = mapped_column(JSON, nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    explanation: Mapped[str | None] = mapped_column(Text)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    seconds: Mapped[int] = mapped_column(default=60)
    frozen: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    item: Mapped[Item] = relationship(back_populates="versions", foreign_keys=[item_id], lazy="joined")


class ItemAsset(db.Model):  # type: ignore[name-defined,misc]
    """A media file an item's content refers to (imported images, audio). The bytes live outside the web root
    under STORAGE_DIR/assets, named by their SHA-256 so identical files are stored once; they are served only
    through a permission-checked view, and the item's HTML refers to them as /banks/assets/<id>/<name>."""

    __tablename__ = "item_assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship()
