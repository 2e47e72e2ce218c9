"""Examiner pages for item banks: banks and sharing, search, item editing with versions, knowledge points,
import with a dry-run preview, export."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from exam.auth.access import require_bank, visible_banks_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.validation import ValidationFailed
from itembank import services
from itembank.content import plain_text, render_content
from itembank.models import Item, ItemType, KnowledgePoint, Subject

bp = Blueprint("itembank", __name__, url_prefix="/banks", template_folder="templates")
PAGE = 50


def _flash_problems(err: ValidationFailed) -> None:
    flash(err.message, "error")
    for problem in err.problems:
        where = _("row %(n)s", n=problem["row"]) + ", " if "row" in problem else ""
        value = f" ({problem['value']})" if "value" in problem else ""
        flash(f"{where}{problem['field']}: {problem['message']}{value}", "error")


@bp.route("/")
@role_required(Role.EXAMINER)
def banks() -> Any:
    """Banks the examiner owns or shares, and a form for a new one."""
    rows = db.session.scalars(visible_banks_query(current_user)).all()
    subjects = db.session.scalars(select(Subject).order_by(Subject.code)).all()
    return render_template("itembank/banks.html", banks=rows, subjects=subjects)


@bp.route("/new", methods=["POST"])
@role_required(Role.EXAMINER)
def new_bank() -> Any:
    """Create a bank."""
    try:
        bank = services.create_bank(
            db.session, current_user, request.form.get("name", ""), request.form.get("subject_id", type=int) or 0
        )
    except ValidationFailed as err:
        db.session.rollback()
        _flash_problems(err)
        return redirect(url_for("itembank.banks"))
    db.session.commit()
    return redirect(url_for("itembank.bank", bank_id=bank.id))


@bp.route("/<int:bank_id>")
@role_required(Role.EXAMINER)
def bank(bank_id: int) -> Any:
    """Search the bank's items."""
    found = require_bank(current_user, bank_id)
    args = request.args
    page = max(1, args.get("page", 1, type=int))
    statement = services.search_query(
        db.session,
        found,
        q=args.get("q", "").strip(),
        item_type=args.get("type", ""),
        kp_id=args.get("kp", type=int),
        tag=args.get("tag", "").strip(),
        level=args.get("level", type=int),
        status=args.get("status", "active"),
    )
    items = db.session.scalars(statement.limit(PAGE + 1).offset((page - 1) * PAGE)).all()
    kps = db.session.scalars(
        select(KnowledgePoint).where(KnowledgePoint.subject_id == found.subject_id).order_by(KnowledgePoint.code)
    ).all()
    return render_template(
        "itembank/bank.html",
        bank=found,
        items=items[:PAGE],
        more=len(items) > PAGE,
        page=page,
        kps=kps,
        types=[t.value for t in ItemType],
        plain_text=plain_text,
        args=args,
        can_edit=_can_edit(found),
        formats=services.EXPORT_FORMATS,
        page_url=lambda n: url_for("itembank.bank", bank_id=found.id, **{**args.to_dict(), "page": n}),
    )


def _can_edit(bank: Any) -> bool:
    from exam.auth.access import can_access_bank

    return can_access_bank(current_user, bank, edit=True)


def _fields_from_form(form: Any, item_type: str) -> services.ItemFields:
    """The item form's text boxes as fields: options one per line ("A. text"), keys by type."""
    options = []
    side = "left"
    for line in (form.get("options") or "").splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "---":  # matching items: left options, a line with ---, then right options
            side = "right"
            continue
        label, _sep, text = line.partition(".")
        if not _sep:
            label, _sep, text = line.partition("．")
        entry = {"key": label.strip(), "text": text.strip()}
        if item_type == "matching":
            entry["side"] = side
        options.append(entry)
    raw_key = (form.get("key") or "").strip()
    key: Any = raw_key
    try:
        if item_type == "multiple_choice" or item_type == "ordering":
            key = [k.strip() for k in raw_key.replace("，", ",").split(",") if k.strip()]
        elif item_type == "true_false":
            key = {"true": True, "false": False, "对": True, "错": False}.get(raw_key.lower(), raw_key)
        elif item_type == "fill_blank":
            key = [
                {"accepted": [a.strip() for a in line.split("|") if a.strip()]}
                for line in raw_key.splitlines()
                if line.strip()
            ]
        elif item_type in ("numerical", "matching"):
            key = json.loads(raw_key) if raw_key else None
        elif item_type in ("short_answer", "essay"):
            key = {"reference": raw_key} if raw_key else None
    except json.JSONDecodeError:
        key = raw_key  # refused with a named problem by the validation
    kp_ids = [int(v) for v in form.getlist("kp") if v.isdigit()]
    tags = [t.strip() for t in (form.get("tags") or "").replace("，", ",").split(",") if t.strip()]

    def number(name: str, default: float) -> float:
        try:
            return float(form.get(name) or default)
        except ValueError:
            return -1.0

    return services.ItemFields(
        type=item_type,
        stem=form.get("stem") or "",
        options=options,
        key=key,
        points=number("points", 1),
        seconds=int(number("seconds", 60)),
        level=int(number("level", 3)),
        tags=tags,
        knowledge_point_ids=kp_ids,
        explanation=form.get("explanation") or None,
    )


def _form_values(item: Item | None) -> dict[str, Any]:
    if item is None or item.current_version is None:
        return {}
    v = item.current_version
    options = []
    side = "left"
    for o in v.options or []:
        if o.get("side") == "right" and side == "left":
            options.append("---")
            side = "right"
        options.append(f"{o['key']}. {o.get('text', '')}")
    key: Any = v.key
    if item.type is ItemType.MULTIPLE_CHOICE or item.type is ItemType.ORDERING:
        key = ",".join(v.key or [])
    elif item.type is ItemType.TRUE_FALSE:
        key = "true" if v.key else "false"
    elif item.type is ItemType.FILL_BLANK:
        key = "\n".join("|".join(b.get("accepted", [])) for b in v.key or [])
    elif item.type in (ItemType.NUMERICAL, ItemType.MATCHING):
        key = json.dumps(v.key, ensure_ascii=False)
    elif item.type in (ItemType.SHORT_ANSWER, ItemType.ESSAY):
        key = (v.key or {}).get("reference", "") if isinstance(v.key, dict) else (v.key or "")
    return {
        "stem": v.stem,
        "options": "\n".join(options),
        "key": key,
        "points": v.points,
        "seconds": v.seconds,
        "level": item.level,
        "tags": ", ".join(item.tags or []),
        "explanation": v.explanation or "",
        "kp": [kp.id for kp in item.knowledge_points],
    }


@bp.route("/<int:bank_id>/items/new", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def new_item(bank_id: int) -> Any:
    """Write a new item."""
    found = require_bank(current_user, bank_id, edit=True)
    item_type = request.values.get("type", "single_choice")
    if item_type not in {t.value for t in ItemType}:
        abort(404)
    values: dict[str, Any] = {}
    if request.method == "POST":
        fields = _fields_from_form(request.form, item_type)
        try:
            item = services.create_item(db.session, found, current_user, fields)
        except ValidationFailed as err:
            db.session.rollback()
            _flash_problems(err)
            values = request.form.to_dict() | {"kp": fields.knowledge_point_ids}
        else:
            db.session.commit()
            flash(_("Item saved."), "ok")
            return redirect(url_for("itembank.item", item_id=item.id))
    return render_template(
        "itembank/item_form.html", bank=found, item=None, item_type=item_type, values=values, kps=_kps(found)
    )


def _kps(bank: Any) -> list[KnowledgePoint]:
    return list(
        db.session.scalars(
            select(KnowledgePoint).where(KnowledgePoint.subject_id == bank.subject_id).order_by(KnowledgePoint.code)
        ).all()
    )


def _item(item_id: int, edit: bool = False) -> Item:
    found = db.session.get(Item, item_id)
    if found is None:
        abort(404)
    require_bank(current_user, found.bank_id, edit=edit)
    return found


@bp.route("/items/<int:item_id>")
@role_required(Role.EXAMINER)
def item(item_id: int) -> Any:
    """An item as students see it, with its versions and statistics."""
    found = _item(item_id)
    return render_template("itembank/item.html", item=found, render=render_content, can_edit=_can_edit(found.bank))


@bp.route("/items/<int:item_id>/edit", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def edit_item(item_id: int) -> Any:
    """Edit an item; if a delivered exam used its current version, the edit becomes a new version."""
    found = _item(item_id, edit=True)
    values = _form_values(found)
    if request.method == "POST":
        fields = _fields_from_form(request.form, found.type.value)
        try:
            version = services.update_item(db.session, found, current_user, fields)
        except ValidationFailed as err:
            db.session.rollback()
            _flash_problems(err)
            values = request.form.to_dict() | {"kp": fields.knowledge_point_ids}
        else:
            db.session.commit()
            flash(_("Saved as version %(n)s.", n=version.number), "ok")
            return redirect(url_for("itembank.item", item_id=found.id))
    return render_template(
        "itembank/item_form.html",
        bank=found.bank,
        item=found,
        item_type=found.type.value,
        values=values,
        kps=_kps(found.bank),
    )


@bp.route("/items/<int:item_id>/status", methods=["POST"])
@role_required(Role.EXAMINER)
def item_status(item_id: int) -> Any:
    """Retire or restore an item."""
    found = _item(item_id, edit=True)
    try:
        services.set_status(db.session, found, request.form.get("status", ""))
    except ValidationFailed as err:
        db.session.rollback()
        _flash_problems(err)
    else:
        db.session.commit()
    return redirect(url_for("itembank.item", item_id=found.id))


@bp.route("/<int:bank_id>/share", methods=["POST"])
@role_required(Role.EXAMINER)
def share(bank_id: int) -> Any:
    """Share the bank with a colleague (owner only)."""
    found = require_bank(current_user, bank_id)
    if found.owner_id != current_user.id and current_user.role is not Role.ADMIN:
        abort(403)
    try:
        services.share_bank(
            db.session, found, request.form.get("username", "").strip(), request.form.get("can_edit") == "1"
        )
    except ValidationFailed as err:
        db.session.rollback()
        _flash_problems(err)
    else:
        db.session.commit()
        flash(_("Shared."), "ok")
    return redirect(url_for("itembank.bank", bank_id=bank_id))


@bp.route("/<int:bank_id>/knowledge-points", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def knowledge_points(bank_id: int) -> Any:
    """The subject's knowledge-point hierarchy; add a point under any other."""
    found = require_bank(current_user, bank_id)
    if request.method == "POST":
        require_bank(current_user, bank_id, edit=True)
        try:
            services.add_knowledge_point(
                db.session,
                found.subject,
                request.form.get("code", ""),
                request.form.get("name_en", ""),
                request.form.get("name_zh", ""),
                request.form.get("parent_id", type=int),
            )
        except ValidationFailed as err:
            db.session.rollback()
            _flash_problems(err)
        else:
            db.session.commit()
            flash(_("Knowledge point added."), "ok")
        return redirect(url_for("itembank.knowledge_points", bank_id=bank_id))
    points = _kps(found)
    children: dict[int | None, list[KnowledgePoint]] = {}
    for kp in points:
        children.setdefault(kp.parent_id, []).append(kp)
    return render_template("itembank/knowledge_points.html", bank=found, children=children, points=points)


def _upload_dir() -> Path:
    path = Path(current_app.config["STORAGE_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@bp.route("/<int:bank_id>/import", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def import_items(bank_id: int) -> Any:
    """Upload -> a dry-run preview of what would be imported and rejected -> confirm -> one transaction."""
    found = require_bank(current_user, bank_id, edit=True)
    if request.method == "GET":
        return render_template("itembank/import.html", bank=found, report=None)
    token = request.form.get("token")
    if token:  # confirm the previewed upload
        pending = session.get("pending_import") or {}
        if pending.get("token") != token or pending.get("bank_id") != found.id:
            flash(_("The preview expired; upload the file again."), "error")
            return redirect(url_for("itembank.import_items", bank_id=bank_id))
        path = _upload_dir() / token
        data = path.read_bytes()
        dry_run = False
        filename = pending["filename"]
    else:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a file."), "error")
            return redirect(url_for("itembank.import_items", bank_id=bank_id))
        data, filename, dry_run = upload.read(), upload.filename, True
    try:
        report = services.import_items(db.session, found, current_user, filename, data, dry_run=dry_run)
    except ValidationFailed as err:
        db.session.rollback()
        _flash_problems(err)
        return redirect(url_for("itembank.import_items", bank_id=bank_id))
    if dry_run:
        db.session.rollback()
        token = secrets.token_hex(16)
        (_upload_dir() / token).write_bytes(data)
        session["pending_import"] = {"token": token, "bank_id": found.id, "filename": filename}
        return render_template("itembank/import.html", bank=found, report=report, token=token, filename=filename)
    db.session.commit()
    (_upload_dir() / token).unlink(missing_ok=True)
    session.pop("pending_import", None)
    flash(_("%(n)s items imported.", n=report["imported"]), "ok")
    return render_template("itembank/import.html", bank=found, report=report, token=None, filename=filename, done=True)


@bp.route("/<int:bank_id>/export")
@role_required(Role.EXAMINER)
def export(bank_id: int) -> Any:
    """Download the bank in an exchange format."""
    found = require_bank(current_user, bank_id)
    fmt = request.args.get("format", "xlsx")
    data = services.export_items(db.session, found, fmt)
    suffix = {"aiken": "txt"}.get(fmt, fmt)
    return Response(
        data,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="bank-{found.id}.{suffix}"'},
    )
