"""Item bank services: banks and sharing, items with versions, knowledge points, search, assets, import/export.

Services take a Session and plain values, validate, `flush()` and never commit: the view or CLI command commits.
Bad input raises exam.validation.ValidationFailed naming the field, row and value; nothing is stored then.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, String, cast, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import NotFound

from exam.auth.models import Role, User
from exam.validation import Problem, ValidationFailed
from itembank.content import sanitize_html
from itembank.formats.model import Asset, ItemDraft
from itembank.models import (
    BankShare,
    Item,
    ItemAsset,
    ItemBank,
    ItemType,
    ItemVersion,
    KnowledgePoint,
    Subject,
    item_knowledge_points,
)

CHOICE_TYPES = frozenset({ItemType.SINGLE_CHOICE, ItemType.MULTIPLE_CHOICE})
STATUSES = ("active", "retired")
# A run of three or more underscores marks a blank in a fill-in-the-blank stem (formats.model.BLANK is four).
_BLANK_MARK = re.compile(r"_{3,}")
# How imported HTML refers to a media file carried with the item, and how stored HTML refers to a stored asset.
ASSET_URL = "/banks/assets/{id}/{name}"
_STORED_ASSET = re.compile(r'/banks/assets/(\d+)/[^"\'\s<>]*')


@dataclass
class ItemFields:
    """What an examiner enters for an item (also what an import draft becomes)."""

    type: str
    stem: str
    options: list[dict[str, Any]] = field(default_factory=list)
    key: Any = None
    points: float = 1.0
    seconds: int = 60
    level: int = 3
    tags: list[str] = field(default_factory=list)
    knowledge_point_ids: list[int] = field(default_factory=list)
    explanation: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None


# --- banks and sharing -----------------------------------------------------------------------------------------


def create_bank(session: Session, owner: User, name: str, subject_id: int) -> ItemBank:
    """A new bank owned by `owner` for one subject (whose knowledge-point hierarchy its items use)."""
    problems = []
    if not name.strip() or len(name.strip()) > 200:
        problems.append(Problem("name", "required, at most 200 characters", value=name))
    if not subject_id or session.get(Subject, subject_id) is None:
        problems.append(Problem("subject", "no such subject", value=subject_id))
    if problems:
        raise ValidationFailed.of("The bank was not created.", problems)
    bank = ItemBank(name=name.strip(), subject_id=subject_id, owner_id=owner.id)
    session.add(bank)
    session.flush()
    return bank


def _examiner(session: Session, user: User | str) -> User | None:
    if isinstance(user, User):
        return user
    return session.scalar(select(User).where(User.username == user.strip()))


def share_bank(session: Session, bank: ItemBank, user: User | str, can_edit: bool) -> BankShare:
    """Share a bank with another examiner (given as a User or a username), read-only or editing.

    Sharing again changes the editing right; the owner cannot be a share."""
    found = _examiner(session, user)
    shown = user if isinstance(user, str) else user.username
    if found is None or not found.has_role(Role.EXAMINER) or not found.active:
        raise ValidationFailed.of("The bank was not shared.", [Problem("username", "no such examiner", value=shown)])
    if found.id == bank.owner_id:
        raise ValidationFailed.of("The bank was not shared.", [Problem("username", "owns the bank", value=shown)])
    share = session.get(BankShare, (bank.id, found.id))
    if share is None:
        share = BankShare(bank_id=bank.id, user_id=found.id)
        session.add(share)
    share.can_edit = bool(can_edit)
    session.flush()
    return share


def unshare_bank(session: Session, bank: ItemBank, user_id: int) -> None:
    """Withdraw a share (no error when there is none)."""
    share = session.get(BankShare, (bank.id, user_id))
    if share is not None:
        session.delete(share)
        session.flush()


def can_access(session: Session, user: User, bank: ItemBank, *, edit: bool = False) -> bool:
    """True when the user may read (or, with edit, change) the bank: owner, admin or an examiner it is shared
    with (with the editing right for edit)."""
    if user.role is Role.ADMIN or bank.owner_id == user.id:
        return True
    if not user.has_role(Role.EXAMINER):
        return False
    share = session.get(BankShare, (bank.id, user.id))
    return share is not None and (share.can_edit or not edit)


def get_bank(session: Session, user: User, bank_id: int, *, edit: bool = False) -> ItemBank:
    """The bank if the user may reach it; otherwise NotFound (invisible banks do not exist, so ids are not
    probeable)."""
    bank = session.get(ItemBank, bank_id)
    if bank is None or not can_access(session, user, bank, edit=edit):
        raise NotFound()
    return bank


# --- item validation -------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def item_problems(f: ItemFields, row: int | None = None) -> list[Problem]:
    """Everything wrong with an item's fields, per type (the key must fit the options and the type).

    Canonical keys (grading.objective): single_choice "A"; multiple_choice ["A", "C"]; true_false bool;
    fill_blank [{"accepted": [...]}, ...]; numerical {"value", "tolerance", "units"}; matching {left: right} with
    options marked side left/right; ordering [every option label in order]; short_answer/essay {"reference"} or
    None (a rubric, when given, is settings["rubric"]).
    """
    problems: list[Problem] = []

    def bad(name: str, message: str, value: Any = None) -> None:
        problems.append(Problem(name, message, row=row, value=value))

    try:
        item_type = ItemType(f.type)
    except ValueError:
        bad("type", f"one of {', '.join(t.value for t in ItemType)}", f.type)
        return problems
    if not isinstance(f.stem, str) or not f.stem.strip():
        bad("stem", "required")
    if not _is_number(f.points) or not 0 < f.points <= 1000:
        bad("points", "a number above 0 and at most 1000", f.points)
    if not isinstance(f.seconds, int) or not 0 < f.seconds <= 24 * 3600:
        bad("seconds", "whole seconds between 1 and 86400", f.seconds)
    if not isinstance(f.level, int) or not 1 <= f.level <= 5:
        bad("level", "1 (easy) to 5 (hard)", f.level)
    if not all(isinstance(t, str) and t.strip() and len(t) <= 60 for t in f.tags):
        bad("tags", "each tag is text of at most 60 characters", f.tags)
    if not isinstance(f.settings, dict):
        bad("settings", "an object", f.settings)
    if not isinstance(f.options, list) or not all(isinstance(o, dict) for o in f.options):
        bad("options", "a list of {key, text}", f.options)
        return problems
    labels = [str(o.get("key", "")).strip() for o in f.options]
    if item_type in CHOICE_TYPES or item_type in (ItemType.ORDERING, ItemType.MATCHING):
        if len(labels) < 2 or not all(labels) or len(set(labels)) != len(labels):
            bad("options", "at least two options with distinct, non-empty labels", labels)
    elif f.options:
        bad("options", f"{item_type.value} items have no options", labels)
    key = f.key
    if item_type is ItemType.SINGLE_CHOICE:
        if not isinstance(key, str) or key not in labels:
            bad("key", "exactly one of the option labels", key)
    elif item_type is ItemType.MULTIPLE_CHOICE:
        if (
            not isinstance(key, list)
            or not key
            or len(set(map(str, key))) != len(key)
            or not set(map(str, key)) <= set(labels)
        ):
            bad("key", "one or more different option labels", key)
    elif item_type is ItemType.TRUE_FALSE:
        if not isinstance(key, bool):
            bad("key", "true or false", key)
    elif item_type is ItemType.FILL_BLANK:
        _fill_blank_problems(f, bad)
    elif item_type is ItemType.NUMERICAL:
        _numerical_problems(key, bad)
    elif item_type is ItemType.MATCHING:
        lefts = {str(o.get("key")) for o in f.options if o.get("side") == "left"}
        rights = {str(o.get("key")) for o in f.options if o.get("side") == "right"}
        if not lefts or not rights:
            bad("options", "matching items need left and right options", labels)
        elif (
            not isinstance(key, dict)
            or not key
            or not (set(map(str, key)) <= lefts and set(map(str, key.values())) <= rights)
        ):
            bad("key", "pairs of a left option label and a right option label", key)
    elif item_type is ItemType.ORDERING:
        if not isinstance(key, list) or sorted(map(str, key)) != sorted(labels):
            bad("key", "every option label exactly once, in the right order", key)
    elif key is not None and not (isinstance(key, dict) and isinstance(key.get("reference", ""), str)):
        bad("key", "a reference answer (text) or nothing", key)
    return problems


def _fill_blank_problems(f: ItemFields, bad: Any) -> None:
    key = f.key
    if not isinstance(key, list) or not key:
        bad("key", "for each blank, at least one accepted answer", key)
        return
    for number, blank in enumerate(key, start=1):
        accepted = blank.get("accepted") if isinstance(blank, dict) else None
        if not isinstance(accepted, list) or not accepted or not all(str(a).strip() for a in accepted):
            bad(f"key (blank {number})", "at least one non-empty accepted answer", blank)
        elif blank.get("numeric") and not all(_parses_as_number(a) for a in accepted):
            bad(f"key (blank {number})", "numeric blanks accept numbers only", accepted)
    marks = len(_BLANK_MARK.findall(f.stem or ""))
    # Only checked when the stem marks blanks at all: imported stems sometimes carry the gaps elsewhere.
    if marks and marks != len(key):
        bad("key", f"the stem has {marks} blanks (____) but the key gives answers for {len(key)}", len(key))


def _parses_as_number(text: Any) -> bool:
    try:
        float(str(text).strip())
    except ValueError:
        return False
    return True


def _numerical_problems(key: Any, bad: Any) -> None:
    if not isinstance(key, dict) or not _is_number(key.get("value")):
        bad("key", 'a number, e.g. {"value": 3.14, "tolerance": 0.01, "units": ["cm"]}', key)
        return
    tolerance = key.get("tolerance", 0)
    if not _is_number(tolerance) or tolerance < 0:
        bad("tolerance", "a number of at least 0", tolerance)
    units = key.get("units", [])
    if not isinstance(units, list) or not all(isinstance(u, str) and u.strip() for u in units):
        bad("units", "a list of unit names", units)


# --- items and versions ----------------------------------------------------------------------------------------


def _content(f: ItemFields) -> dict[str, Any]:
    """A version's content from the fields, with every piece of HTML sanitised (TeX is plain text: kept)."""
    return {
        "stem": sanitize_html(f.stem),
        "options": [
            {**o, "key": str(o["key"]).strip(), "text": sanitize_html(str(o.get("text", "")))} for o in f.options
        ],
        "key": f.key,
        "settings": dict(f.settings),
        "explanation": (sanitize_html(f.explanation) or None) if f.explanation else None,
        "points": float(f.points),
        "seconds": int(f.seconds),
    }


def _knowledge_points(session: Session, bank: ItemBank, ids: list[int]) -> list[KnowledgePoint]:
    unique = list(dict.fromkeys(ids))
    points = {kp.id: kp for kp in session.scalars(select(KnowledgePoint).where(KnowledgePoint.id.in_(unique)))}
    missing = [i for i in unique if i not in points or points[i].subject_id != bank.subject_id]
    if missing:
        raise ValidationFailed.of(
            "The item was not saved.",
            [Problem("knowledge_points", "not knowledge points of this bank's subject", value=missing)],
        )
    return [points[i] for i in unique]


def _check(f: ItemFields) -> None:
    if isinstance(f.tags, list) and all(isinstance(t, str) for t in f.tags):
        f.tags = list(dict.fromkeys(t.strip() for t in f.tags if t.strip()))
    problems = item_problems(f)
    if problems:
        raise ValidationFailed.of("The item was not saved.", problems)


def _new_item(bank: ItemBank, user: User, f: ItemFields, kps: list[KnowledgePoint]) -> tuple[Item, ItemVersion]:
    item = Item(
        bank=bank,
        type=ItemType(f.type),
        level=f.level,
        tags=list(f.tags),
        created_by_id=user.id,
        source_id=f.source_id or None,
        knowledge_points=kps,
    )
    version = ItemVersion(item=item, number=1, created_by_id=user.id, **_content(f))
    return item, version


def create_item(session: Session, bank: ItemBank, user: User, fields: ItemFields) -> Item:
    """A new item with its first version; nothing is stored when a field is wrong."""
    _check(fields)
    item, version = _new_item(bank, user, fields, _knowledge_points(session, bank, fields.knowledge_point_ids))
    session.add_all([item, version])
    session.flush()
    item.current_version_id = version.id
    session.flush()
    return item


def update_item(session: Session, item: Item, user: User, fields: ItemFields) -> ItemVersion:
    """Edit an item. A version a delivered exam used is frozen: the edit becomes a new version (number + 1) and
    the item points at it, while papers and responses keep pointing at the version the students saw. An unused
    version is edited in place. The type of an item never changes (a different type is a different item)."""
    fields.type = item.type.value
    if fields.source_id is None:
        fields.source_id = item.source_id
    _check(fields)
    kps = _knowledge_points(session, item.bank, fields.knowledge_point_ids)
    item.level, item.tags, item.knowledge_points = fields.level, list(fields.tags), kps
    current = item.current_version
    if current is None or current.frozen:
        last = session.scalar(select(func.max(ItemVersion.number)).where(ItemVersion.item_id == item.id)) or 0
        version = ItemVersion(item=item, number=last + 1, created_by_id=user.id, **_content(fields))
        session.add(version)
        session.flush()
        item.current_version_id = version.id
        item.current_version = version
    else:
        for name, value in _content(fields).items():
            setattr(current, name, value)
        version = current
    session.flush()
    return version


def fields_of(item: Item) -> ItemFields:
    """An item's current content as fields (to edit or copy it)."""
    v = item.current_version
    if v is None:
        raise ValueError(f"item {item.id} has no content")
    return ItemFields(
        type=item.type.value,
        stem=v.stem,
        options=[dict(o) for o in v.options or []],
        key=v.key,
        points=v.points,
        seconds=v.seconds,
        level=item.level,
        tags=list(item.tags or []),
        knowledge_point_ids=[kp.id for kp in item.knowledge_points],
        explanation=v.explanation,
        settings=dict(v.settings or {}),
        source_id=item.source_id,
    )


def set_status(session: Session, item: Item, status: str) -> None:
    """Retire an item (delivered papers keep it, new papers and searches no longer offer it) or restore it."""
    if status not in STATUSES:
        raise ValidationFailed.of("The status was not changed.", [Problem("status", "active or retired", value=status)])
    item.status = status
    session.flush()


def retire_item(session: Session, item: Item) -> None:
    """Retire an item (see set_status)."""
    set_status(session, item, "retired")


def restore_item(session: Session, item: Item) -> None:
    """Offer a retired item again."""
    set_status(session, item, "active")


# --- knowledge points ------------------------------------------------------------------------------------------


def add_knowledge_point(
    session: Session, subject: Subject, code: str, name_en: str, name_zh: str, parent_id: int | None = None
) -> KnowledgePoint:
    """A knowledge point under a parent (or at the top) of a subject's hierarchy; codes are unique per subject."""
    code, name_en, name_zh = code.strip(), name_en.strip(), name_zh.strip()
    problems = []
    if not code or len(code) > 60:
        problems.append(Problem("code", "required, at most 60 characters", value=code or None))
    elif session.scalar(
        select(KnowledgePoint.id).where(KnowledgePoint.subject_id == subject.id, KnowledgePoint.code == code)
    ):
        problems.append(Problem("code", "already used in this subject", value=code))
    if not (name_en or name_zh):
        problems.append(Problem("name", "an English or a Chinese name is required"))
    if len(name_en) > 200 or len(name_zh) > 200:
        problems.append(Problem("name", "at most 200 characters"))
    parent = session.get(KnowledgePoint, parent_id) if parent_id else None
    if parent_id and (parent is None or parent.subject_id != subject.id):
        problems.append(Problem("parent", "not a knowledge point of this subject", value=parent_id))
    if problems:
        raise ValidationFailed.of("The knowledge point was not added.", problems)
    point = KnowledgePoint(
        subject_id=subject.id, parent_id=parent_id or None, code=code, name_en=name_en or name_zh,
        name_zh=name_zh or name_en,
    )  # fmt: skip
    session.add(point)
    session.flush()
    return point


def descendants(session: Session, kp_id: int) -> set[int]:
    """A knowledge point and everything below it (breadth first, one query per level)."""
    found = {kp_id}
    frontier = [kp_id]
    while frontier:
        children = session.scalars(select(KnowledgePoint.id).where(KnowledgePoint.parent_id.in_(frontier))).all()
        frontier = [c for c in children if c not in found]
        found.update(frontier)
    return found


def knowledge_tree(session: Session, subject_id: int) -> dict[int | None, list[KnowledgePoint]]:
    """A subject's knowledge points as parent id -> children ordered by code (None: the top level)."""
    points = session.scalars(
        select(KnowledgePoint).where(KnowledgePoint.subject_id == subject_id).order_by(KnowledgePoint.code)
    ).all()
    children: dict[int | None, list[KnowledgePoint]] = {}
    for kp in points:
        children.setdefault(kp.parent_id, []).append(kp)
    return children


# --- search ----------------------------------------------------------------------------------------------------


@dataclass
class ItemPage:
    """One page of search results."""

    items: list[Item]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def search_query(
    session: Session,
    bank: ItemBank,
    *,
    q: str = "",
    item_type: str = "",
    kp_id: int | None = None,
    tag: str = "",
    level: int | None = None,
    status: str = "active",
) -> Select[tuple[Item]]:
    """Items of a bank matching the filters, newest first: stem text (Chinese or English, case-insensitive for
    Latin letters) or exact source id, type, knowledge point with its descendants, tag, level, status ("" = any)."""
    statement = select(Item).join(ItemVersion, Item.current_version_id == ItemVersion.id).where(Item.bank_id == bank.id)
    if q:
        # Stems are stored as sanitised HTML, where & < > are entities: look for both spellings.
        needles = {q.lower(), html.escape(q, quote=False).lower()}
        statement = statement.where(
            or_(Item.source_id == q, *(func.lower(ItemVersion.stem).contains(n, autoescape=True) for n in needles))
        )
    if item_type:
        try:
            statement = statement.where(Item.type == ItemType(item_type))
        except ValueError as err:
            raise ValidationFailed.of(
                "Unknown item type.", [Problem("type", "not an item type", value=item_type)]
            ) from err
    if kp_id:
        ids = descendants(session, kp_id)
        statement = statement.where(
            Item.id.in_(
                select(item_knowledge_points.c.item_id).where(item_knowledge_points.c.knowledge_point_id.in_(ids))
            )
        )
    if tag:
        # Tags are a JSON list; the JSON text may spell non-ASCII tags as \u escapes, so look for both spellings.
        spellings = {json.dumps(tag.strip(), ensure_ascii=False), json.dumps(tag.strip())}
        text = func.lower(cast(Item.tags, String))
        statement = statement.where(or_(*(text.contains(s.lower(), autoescape=True) for s in spellings)))
    if level:
        statement = statement.where(Item.level == level)
    if status:
        statement = statement.where(Item.status == status)
    return statement.order_by(Item.id.desc())


def search_items(
    session: Session,
    user: User,
    bank_id: int,
    *,
    q: str = "",
    item_type: str = "",
    kp_id: int | None = None,
    tag: str = "",
    level: int | None = None,
    status: str = "active",
    page: int = 1,
    per_page: int = 50,
) -> ItemPage:
    """A page of a bank's items matching the filters (see search_query); NotFound for a bank the user may not
    see."""
    bank = get_bank(session, user, bank_id)
    statement = search_query(
        session, bank, q=q.strip(), item_type=item_type, kp_id=kp_id, tag=tag, level=level, status=status
    )
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    page = max(1, page)
    # The result table shows each item's current stem and knowledge points: load them in two queries, not 2 x 50.
    paged = statement.options(selectinload(Item.current_version), selectinload(Item.knowledge_points))
    items = list(session.scalars(paged.limit(per_page).offset((page - 1) * per_page)).unique())
    return ItemPage(items=items, total=total, page=page, per_page=per_page)


# --- assets ----------------------------------------------------------------------------------------------------


def asset_dir(storage_dir: Path | str) -> Path:
    """Where asset bytes live (outside the web root)."""
    return Path(storage_dir) / "assets"


def asset_file(storage_dir: Path | str, asset: ItemAsset) -> Path:
    """The stored file of an asset (content-addressed by SHA-256)."""
    return asset_dir(storage_dir) / asset.sha256[:2] / asset.sha256


def _write_asset_file(storage_dir: Path | str, digest: str, data: bytes) -> None:
    path = asset_dir(storage_dir) / digest[:2] / digest
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    temporary.write_bytes(data)
    temporary.replace(path)  # atomic: a reader never sees half a file


def _asset_names(text: str | None, names: dict[str, str]) -> str | None:
    """Replace asset:NAME references with the stored assets' URLs."""
    if not text:
        return text
    for name, url in names.items():
        for spelling in {name, html.escape(name)}:
            text = text.replace(f"asset:{spelling}", url)
    return text


def can_view_asset(session: Session, user: User, asset: ItemAsset) -> bool:
    """Examiners who may read the bank, and everyone who meets the item on a delivered paper: a student on the
    exam's roster, or exam staff (proctor, marker)."""
    from exam.auth.access import exam_role
    from exam.delivery.models import Candidate, Exam, PaperItem

    item = session.get(Item, asset.item_id)
    if item is None:
        return False
    if can_access(session, user, item.bank):
        return True
    exam_ids = session.scalars(
        select(Exam.id)
        .join(PaperItem, PaperItem.exam_id == Exam.id)
        .join(ItemVersion, PaperItem.item_version_id == ItemVersion.id)
        .where(ItemVersion.item_id == item.id, Exam.frozen_at.is_not(None))
        .distinct()
    ).all()
    for exam in (session.get(Exam, exam_id) for exam_id in exam_ids):
        assert exam is not None
        if user.role is Role.STUDENT:
            if session.scalar(select(Candidate.id).where(Candidate.exam_id == exam.id, Candidate.user_id == user.id)):
                return True
        elif exam_role(user, exam, "proctor") or exam_role(user, exam, "marker"):
            return True
    return False


IMAGE_TYPES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
    "image/webp": b"RIFF",
}
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def _image_mime(data: bytes) -> str | None:
    """The image type the bytes really are (the browser's claim is not trusted), or None."""
    for mime, magic in IMAGE_TYPES.items():
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    head = data[:1024].lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"<") and b"<svg" in head:
        return "image/svg+xml"  # served with a sandboxing CSP, so script inside it cannot run
    return None


def attach_images(
    session: Session,
    item: Item,
    version: ItemVersion,
    files: list[tuple[str, bytes]],
    storage_dir: Path | str,
) -> list[ItemAsset]:
    """Store images uploaded with the item form as the item's assets. A stem that refers to a file as
    asset:NAME gets its URL; a file the stem does not mention is appended to the stem. Every file is checked
    before anything is stored (type by content, at most 5 MB)."""
    problems = []
    for name, data in files:
        if not data or len(data) > MAX_IMAGE_BYTES:
            problems.append(
                Problem("images", f"an image of 1 byte to {MAX_IMAGE_BYTES // 1024 // 1024} MB", value=name)
            )
        elif _image_mime(data) is None:
            problems.append(Problem("images", "not a PNG, JPEG, GIF, WebP or SVG image", value=name))
    if problems:
        raise ValidationFailed.of("The images were not stored.", problems)
    pending: dict[str, bytes] = {}
    assets = {Path(name).name or "image": Asset(data=data, mime=_image_mime(data) or "") for name, data in files}
    urls = _store_assets(session, item.id, assets, pending)
    stem = _asset_names(version.stem, urls) or ""
    for name, url in urls.items():
        if url not in stem:
            stem += f'<p><img src="{url}" alt="{html.escape(name)}"></p>'
    version.stem = sanitize_html(stem)
    session.flush()
    for digest, payload in pending.items():
        _write_asset_file(storage_dir, digest, payload)
    return list(session.scalars(select(ItemAsset).where(ItemAsset.item_id == item.id).order_by(ItemAsset.id)))


# --- import ----------------------------------------------------------------------------------------------------

LEVELS = {"easy": 1, "容易": 1, "简单": 1, "易": 1, "medium": 3, "中等": 3, "中": 3, "hard": 5, "困难": 5, "难": 5}
ON_DUPLICATE = ("skip", "update")


def _level(value: str | None) -> int:
    if value is None or str(value).strip() == "":
        return 3
    text = str(value).strip().lower()
    if text in LEVELS:
        return LEVELS[text]
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"level {value!r} is neither 1-5 nor easy/medium/hard") from None
    if number != int(number) or not 1 <= number <= 5:
        raise ValueError(f"level {value!r} is not a whole number from 1 to 5")
    return int(number)


class _KnowledgePoints:
    """Knowledge points of the bank's subject by code, creating missing ones (and warning once per code).

    A code written as a path (Moodle categories: "Algebra/Equations") becomes a chain: each prefix is a node
    whose code is the path so far and whose name is the last segment."""

    def __init__(self, session: Session, bank: ItemBank, warnings: list[str]) -> None:
        self.session, self.bank, self.warnings = session, bank, warnings
        self.by_code = {
            kp.code: kp
            for kp in session.scalars(select(KnowledgePoint).where(KnowledgePoint.subject_id == bank.subject_id))
        }

    def get(self, path: str) -> KnowledgePoint:
        path = path.strip().strip("/")
        code = kp_code(path)
        if code in self.by_code:
            return self.by_code[code]
        parent: KnowledgePoint | None = None
        if "/" in path:
            parent = self.get(path.rsplit("/", 1)[0])
        name = path.rsplit("/", 1)[-1].strip()[:200] or path[:200]
        kp = KnowledgePoint(subject_id=self.bank.subject_id, parent=parent, code=code, name_en=name, name_zh=name)
        self.session.add(kp)
        self.by_code[code] = kp
        shown = path if code == path else f"{path} (code {code})"
        self.warnings.append(f"knowledge point {shown!r} was not in the subject and has been created")
        return kp


def kp_code(path: str, limit: int = 60) -> str:
    """The knowledge-point code for a code or category path from a file. Codes hold at most 60 characters; a
    longer path (deep Moodle categories) keeps its start plus a hash of the whole, so the same path always maps
    to the same code and re-imports find it again."""
    if len(path) <= limit:
        return path
    return path[: limit - 9] + "~" + hashlib.sha256(path.encode()).hexdigest()[:8]


def _draft_fields(draft: ItemDraft) -> ItemFields:
    """An import draft as item fields (raises ValueError naming the field for a value we cannot take)."""
    return ItemFields(
        type=draft.type,
        stem=draft.stem,
        options=[dict(o) for o in draft.options],
        key=draft.key,
        points=float(draft.points) if _is_number(draft.points) else draft.points,
        seconds=int(draft.seconds) if draft.seconds else 60,
        level=_level(draft.level),
        tags=[str(t) for t in draft.tags],
        explanation=draft.explanation,
        settings=dict(draft.settings),
        source_id=(draft.source_id or "").strip()[:200] or None,
    )


@dataclass
class _Plan:
    """One draft that passed validation, and what to do with it."""

    draft: ItemDraft
    fields: ItemFields
    kp_codes: list[str]
    existing: Item | None


def import_items(
    session: Session,
    bank: ItemBank,
    user: User,
    filename: str,
    data: bytes,
    *,
    dry_run: bool = False,
    on_duplicate: str = "skip",
    storage_dir: Path | str | None = None,
    preview: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Import a file into a bank as one transaction and report exactly `imported`, `by_type`, `rejected`
    ([{item, reason}]) and `warnings`.

    Every item in the file is imported or rejected with its reason. Items are matched by (bank, source id):
    an item already in the bank is skipped with a warning (on_duplicate="skip") or updated, as a new version when
    a delivered exam used it (on_duplicate="update"). Knowledge points are matched by code in the bank's subject;
    unknown codes are created (with a warning). Media files carried by items are stored under
    storage_dir/assets (default: the app's STORAGE_DIR) once the import has succeeded. With dry_run nothing is
    written; on any exception nothing is written either. `preview`, when given, receives one row per item:
    source_id, type, stem, knowledge_points, action (new/update/skip).
    """
    from itembank.formats.detect import read_items

    if on_duplicate not in ON_DUPLICATE:
        raise ValidationFailed.of("Unknown option.", [Problem("on_duplicate", "skip or update", value=on_duplicate)])
    try:
        result = read_items(filename, data)
    except ValueError as err:  # FormatError: broken, hostile or unsupported file; nothing was read
        raise ValidationFailed.of(f"{filename}: the file cannot be imported.", [Problem("file", str(err))]) from err
    report: dict[str, Any] = {
        "imported": 0,
        "by_type": {},
        "rejected": [{"item": str(r.get("item", "")), "reason": str(r.get("reason", ""))} for r in result.rejected],
        "warnings": list(result.warnings),
    }
    plans = _plan(session, bank, result.drafts, report)
    pending_files: dict[str, bytes] = {}
    savepoint = session.begin_nested()
    try:
        kps = _KnowledgePoints(session, bank, report["warnings"])
        fresh: list[tuple[_Plan, list[KnowledgePoint]]] = []
        for plan in plans:
            action = "new" if plan.existing is None else ("update" if on_duplicate == "update" else "skip")
            if preview is not None:
                preview.append(_preview_row(plan, action))
            if action == "skip":
                report["warnings"].append(
                    f"{plan.fields.source_id}: already in bank, skipped (an item with this source id is already in "
                    "the bank)"
                )
                continue
            points = [kps.get(code) for code in plan.kp_codes]
            if plan.existing is not None:
                plan.fields.knowledge_point_ids = []
                version = update_item(session, plan.existing, user, plan.fields)
                plan.existing.knowledge_points = points
                if plan.draft.assets:
                    urls = _store_assets(session, plan.existing.id, plan.draft.assets, pending_files)
                    content = _with_assets(_content(plan.fields), urls, plan.fields.source_id, report)
                    for name in ("stem", "options", "explanation"):
                        setattr(version, name, content[name])
                report["warnings"].append(
                    f"{plan.fields.source_id}: already in bank, updated (version {version.number})"
                )
            else:
                fresh.append((plan, points))
            report["imported"] += 1
            report["by_type"][plan.fields.type] = report["by_type"].get(plan.fields.type, 0) + 1
        session.flush()  # knowledge points created on the way, updated items
        for start in range(0, len(fresh), 1000):
            _insert_new(session, bank, user, fresh[start : start + 1000], pending_files, report)
    except Exception:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
        return report
    savepoint.commit()
    if pending_files:
        if storage_dir is None:
            from flask import current_app

            storage_dir = current_app.config["STORAGE_DIR"]
        for digest, payload in pending_files.items():
            _write_asset_file(storage_dir, digest, payload)
    return report


def _plan(session: Session, bank: ItemBank, drafts: list[ItemDraft], report: dict[str, Any]) -> list[_Plan]:
    """Validate every draft before anything is written; rejected drafts go to the report with their reason."""
    existing = {
        item.source_id: item
        for item in session.scalars(select(Item).where(Item.bank_id == bank.id, Item.source_id.is_not(None)))
    }
    seen: set[str] = set()
    plans = []
    for number, draft in enumerate(drafts, start=1):
        name = draft.source_id or f"item {number}"
        try:
            fields = _draft_fields(draft)
        except ValueError as err:
            report["rejected"].append({"item": name, "reason": str(err)})
            continue
        problems = item_problems(fields)
        if problems:
            report["rejected"].append({"item": name, "reason": "; ".join(str(p) for p in problems)})
            continue
        if fields.source_id and fields.source_id in seen:
            report["rejected"].append({"item": name, "reason": "the same source id appears earlier in the file"})
            continue
        if fields.source_id:
            seen.add(fields.source_id)
        found = existing.get(fields.source_id) if fields.source_id else None
        if found is not None and found.type.value != fields.type:
            report["rejected"].append(
                {"item": name, "reason": f"already in bank as a {found.type.value} item, the file says {fields.type}"}
            )
            continue
        codes = list(dict.fromkeys(c.strip().strip("/") for c in draft.knowledge_points if c and c.strip("/ ")))
        plans.append(_Plan(draft=draft, fields=fields, kp_codes=codes, existing=found))
    return plans


def _preview_row(plan: _Plan, action: str) -> dict[str, Any]:
    from itembank.content import plain_text

    return {
        "source_id": plan.fields.source_id or "",
        "type": plan.fields.type,
        "stem": plain_text(plan.fields.stem, 120),
        "knowledge_points": plan.kp_codes,
        "points": plan.fields.points,
        "action": action,
    }


def _insert_new(
    session: Session,
    bank: ItemBank,
    user: User,
    batch: list[tuple[_Plan, list[KnowledgePoint]]],
    pending_files: dict[str, bytes],
    report: dict[str, Any],
) -> None:
    """Insert new items in bulk (a few statements per thousand items rather than several round trips per item:
    a 10,000-item package must import well within the 30 s budget). The drafts were validated by _plan."""
    item_rows = [
        {
            "bank_id": bank.id,
            "type": ItemType(plan.fields.type),
            "level": plan.fields.level,
            "tags": list(plan.fields.tags),
            "status": "active",
            "created_by_id": user.id,
            "source_id": plan.fields.source_id,
        }
        for plan, _points in batch
    ]
    item_ids = list(session.scalars(insert(Item).returning(Item.id, sort_by_parameter_order=True), item_rows))
    version_rows = []
    for item_id, (plan, _points) in zip(item_ids, batch, strict=True):
        content = _content(plan.fields)
        if plan.draft.assets:
            urls = _store_assets(session, item_id, plan.draft.assets, pending_files)
            content = _with_assets(content, urls, plan.fields.source_id, report)
        version_rows.append({"item_id": item_id, "number": 1, "frozen": False, "created_by_id": user.id, **content})
    session.execute(insert(ItemVersion), version_rows)
    # New items have exactly one version: one correlated UPDATE points them all at it.
    session.execute(
        update(Item)
        .where(Item.id.in_(item_ids))
        .values(current_version_id=select(ItemVersion.id).where(ItemVersion.item_id == Item.id).scalar_subquery())
        .execution_options(synchronize_session=False)
    )
    links = [
        {"item_id": item_id, "knowledge_point_id": kp.id}
        for item_id, (_plan, points) in zip(item_ids, batch, strict=True)
        for kp in dict.fromkeys(points)
    ]
    if links:
        session.execute(insert(item_knowledge_points), links)


def _store_assets(
    session: Session, item_id: int, assets: dict[str, Asset], pending_files: dict[str, bytes]
) -> dict[str, str]:
    """ItemAsset rows for an item's media; returns each file name's URL. The bytes are written to storage only
    once the import has succeeded (pending_files: SHA-256 -> bytes)."""
    urls: dict[str, str] = {}
    for name, asset in assets.items():
        digest = hashlib.sha256(asset.data).hexdigest()
        row = ItemAsset(item_id=item_id, name=name[:255], mime=(asset.mime or "application/octet-stream")[:100],
                        sha256=digest, size=len(asset.data))  # fmt: skip
        session.add(row)
        session.flush()
        urls[name] = ASSET_URL.format(id=row.id, name=re.sub(r"[^\w.-]", "_", Path(name).name) or "file")
        pending_files[digest] = asset.data
    return urls


def _with_assets(
    content: dict[str, Any], urls: dict[str, str], source_id: str | None, report: dict[str, Any]
) -> dict[str, Any]:
    """A version's content with asset:NAME references pointing at the stored assets."""
    content = dict(content)
    content["stem"] = _asset_names(content["stem"], urls) or ""
    content["explanation"] = _asset_names(content["explanation"], urls)
    content["options"] = [{**o, "text": _asset_names(o.get("text"), urls)} for o in content["options"]]
    used = content["stem"] + (content["explanation"] or "") + json.dumps(content["options"])
    for name, url in urls.items():
        if url not in used:
            report["warnings"].append(f"{source_id}: media file {name!r} is carried but not used")
    return content


# --- export ----------------------------------------------------------------------------------------------------


def export_formats() -> tuple[str, ...]:
    """Names accepted by export_items."""
    from itembank.formats.detect import FORMATS

    return FORMATS


def _write(fmt: str, drafts: list[ItemDraft], title: str) -> bytes:
    """The one place export calls the formats package."""
    from itembank.formats.detect import write_items

    if fmt in ("qti21", "qti30", "moodle", "docx"):
        return write_items(fmt, drafts, title=title)
    return write_items(fmt, drafts)


def drafts_of(
    session: Session, bank: ItemBank, item_ids: list[int] | None = None, storage_dir: Path | str | None = None
) -> list[ItemDraft]:
    """The bank's (or the selected) items as interchange drafts, with their media when storage_dir is given."""
    statement = select(Item).where(Item.bank_id == bank.id).order_by(Item.id)
    if item_ids is not None:
        statement = statement.where(Item.id.in_(item_ids))
    items = [item for item in session.scalars(statement) if item.current_version is not None]
    assets: dict[int, ItemAsset] = {}
    if items:
        assets = {
            a.id: a for a in session.scalars(select(ItemAsset).where(ItemAsset.item_id.in_([i.id for i in items])))
        }
    drafts = []
    for item in items:
        v = item.current_version
        assert v is not None
        carried: dict[str, Asset] = {}

        def local(text: str | None, carried: dict[str, Asset] = carried) -> str | None:
            # Stored URLs become asset:NAME again, with the bytes carried in the draft, so files re-import.
            def swap(match: re.Match[str]) -> str:
                asset = assets.get(int(match.group(1)))
                if asset is None or storage_dir is None:
                    return match.group(0)
                path = asset_file(storage_dir, asset)
                if not path.exists():
                    return match.group(0)
                carried[asset.name] = Asset(data=path.read_bytes(), mime=asset.mime)
                return f"asset:{asset.name}"

            return _STORED_ASSET.sub(swap, text) if text else text

        drafts.append(
            ItemDraft(
                source_id=item.source_id or f"item-{item.id}",
                type=item.type.value,
                stem=local(v.stem) or "",
                key=v.key,
                options=[{**o, "text": local(o.get("text")) or ""} for o in v.options or []],
                points=v.points,
                seconds=v.seconds,
                knowledge_points=[kp.code for kp in item.knowledge_points],
                level=str(item.level),
                tags=list(item.tags or []),
                explanation=local(v.explanation),
                settings=dict(v.settings or {}),
                assets=carried,
            )
        )
    return drafts


def export_items(
    session: Session,
    bank: ItemBank,
    fmt: str,
    item_ids: list[int] | None = None,
    *,
    storage_dir: Path | str | None = None,
) -> bytes:
    """The bank's items (or the selected ones) in an exchange format; a format that cannot express an item
    raises ValidationFailed naming it."""
    formats = export_formats()
    if fmt not in formats:
        raise ValidationFailed.of("Unknown export format.", [Problem("format", ", ".join(formats), value=fmt)])
    if storage_dir is None:
        from flask import current_app, has_app_context

        storage_dir = current_app.config["STORAGE_DIR"] if has_app_context() else None
    drafts = drafts_of(session, bank, item_ids, storage_dir)
    try:
        return _write(fmt, drafts, bank.name)
    except ValueError as err:
        raise ValidationFailed.of(
            f"The items cannot be written as {fmt}.", [Problem("format", str(err), value=fmt)]
        ) from err


def report_json(report: dict[str, Any]) -> str:
    """The import report as JSON (REPORT.json), Chinese text kept readable."""
    return json.dumps(report, ensure_ascii=False, indent=1)
