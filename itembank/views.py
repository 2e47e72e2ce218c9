"""Examiner pages for item banks: banks and sharing, search, item editing with versions, knowledge points,
import with a dry-run preview, export, and permission-checked item media."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from exam.auth.access import require_bank, visible_banks_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from exam.errors import flash_problems
from exam.validation import ValidationFailed
from itembank import services
from itembank.content import plain_text, render_content
from itembank.models import Item, ItemAsset, ItemBank, ItemType, ItemVersion, KnowledgePoint, Subject

bp = Blueprint("itembank", __name__, url_prefix="/banks", template_folder="templates")
PAGE = 50
PENDING_IMPORT_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
OPTION_TYPES = {"single_choice", "multiple_choice", "ordering", "matching"}


def _can_edit(bank: ItemBank) -> bool:
    return services.can_access(db.session, current_user, bank, edit=True)


def _kps(bank: ItemBank) -> list[KnowledgePoint]:
    return list(
        db.session.scalars(
            select(KnowledgePoint).where(KnowledgePoint.subject_id == bank.subject_id).order_by(KnowledgePoint.code)
        ).all()
    )


# --- banks -----------------------------------------------------------------------------------------------------


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
            db.session, current_user, request.form.get("name", ""), request.form.get("subject_id", 0, type=int)
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
        return redirect(url_for("itembank.banks"))
    db.session.commit()
    flash(_("Bank created."), "ok")
    return redirect(url_for("itembank.bank", bank_id=bank.id))


def _search_args(args: MultiDict[str, str]) -> dict[str, Any]:
    return {
        "q": args.get("q", "").strip(),
        "item_type": args.get("type", "") if args.get("type", "") in {t.value for t in ItemType} else "",
        "kp_id": args.get("kp", type=int),
        "tag": args.get("tag", "").strip(),
        "level": args.get("level", type=int),
        "status": args.get("status", "active") if args.get("status", "active") in ("active", "retired", "") else "",
    }


@bp.route("/<int:bank_id>")
@role_required(Role.EXAMINER)
def bank(bank_id: int) -> Any:
    """Search the bank's items (paginated), start new items, import, export, share."""
    found = require_bank(current_user, bank_id)
    args = request.args
    result = services.search_items(
        db.session, current_user, found.id, page=args.get("page", 1, type=int), per_page=PAGE, **_search_args(args)
    )
    filters = {k: v for k, v in args.to_dict().items() if k != "page" and v}
    return render_template(
        "itembank/bank.html",
        bank=found,
        result=result,
        kps=_kps(found),
        types=[t.value for t in ItemType],
        plain_text=plain_text,
        args=args,
        filters=filters,
        can_edit=_can_edit(found),
        is_owner=found.owner_id == current_user.id or current_user.role is Role.ADMIN,
        formats=services.export_formats(),
        page_url=lambda n: url_for("itembank.bank", bank_id=found.id, **{**filters, "page": n}),
    )


@bp.route("/<int:bank_id>/share", methods=["POST"])
@role_required(Role.EXAMINER)
def share(bank_id: int) -> Any:
    """Share the bank with a colleague, or withdraw a share (owner and admins only)."""
    found = require_bank(current_user, bank_id)
    if found.owner_id != current_user.id and current_user.role is not Role.ADMIN:
        abort(403)
    remove = request.form.get("remove", type=int)
    try:
        if remove:
            services.unshare_bank(db.session, found, remove)
        else:
            services.share_bank(
                db.session, found, request.form.get("username", ""), request.form.get("can_edit") == "1"
            )
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(_("Sharing updated."), "ok")
    return redirect(url_for("itembank.bank", bank_id=bank_id))


# --- items -----------------------------------------------------------------------------------------------------


def _labelled_lines(text: str, item_type: str) -> list[dict[str, Any]]:
    """Options, one per line as "A. text" (also "A．", "A、", "A)"); for matching, the left column, a line with
    ---, then the right column."""
    options = []
    side = "left"
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if item_type == "matching" and set(line) == {"-"}:
            side = "right"
            continue
        match = re.match(r"^\s*([^\s.．、)）:：]{1,8})\s*[.．、)）:：]\s*(.*)$", line)
        label, text_ = (match.group(1), match.group(2)) if match else (line, "")
        entry: dict[str, Any] = {"key": label.strip(), "text": text_.strip()}
        if item_type == "matching":
            entry["side"] = side
        options.append(entry)
    return options


def _split_labels(raw: str, labels: list[str]) -> list[str]:
    """ "A,C", "A C", "A、C" or, when every label is one letter, "AC"."""
    parts = [p for p in re.split(r"[\s,，、;；]+", raw.strip()) if p]
    if len(parts) == 1 and parts[0] not in labels and all(ch in labels for ch in parts[0]):
        return list(parts[0])
    return parts


def _form_key(form: MultiDict[str, str], item_type: str, options: list[dict[str, Any]]) -> Any:
    raw = (form.get("key") or "").strip()
    labels = [o["key"] for o in options]
    if item_type == "single_choice":
        return raw.upper() if raw.upper() in labels and raw not in labels else raw
    if item_type in ("multiple_choice", "ordering"):
        return _split_labels(raw, labels)
    if item_type == "true_false":
        truth = {"true": True, "t": True, "yes": True, "对": True, "正确": True, "√": True, "✓": True}
        falsity = {"false": False, "f": False, "no": False, "错": False, "错误": False, "×": False, "✗": False}
        return {**truth, **falsity}.get(raw.lower(), raw or None)
    if item_type == "fill_blank":
        return [
            {"accepted": [a.strip() for a in line.split("|") if a.strip()]} for line in raw.splitlines() if line.strip()
        ]
    if item_type == "numerical":
        return _numerical_key(form)
    if item_type == "matching":
        key: dict[str, str] = {}
        for pair in (p for p in re.split(r"[\n,，;；]+", raw) if p.strip()):
            match = re.match(r"^\s*(.+?)\s*(?:->|→|=|-|:|：)\s*(.+?)\s*$", pair)
            if match is None:
                return raw  # refused with a named problem by the validation
            key[match.group(1)] = match.group(2)
        return key
    return {"reference": raw} if raw else None


def _numerical_key(form: MultiDict[str, str]) -> Any:
    def number(name: str, default: float | None) -> Any:
        text = (form.get(name) or "").strip()
        if not text:
            return default
        try:
            return float(text)
        except ValueError:
            return text  # refused with the field named by the validation

    units = [u.strip() for u in re.split(r"[,，]", form.get("units") or "") if u.strip()]
    return {"value": number("value", None), "tolerance": number("tolerance", 0.0), "units": units}


def _fields_from_form(form: MultiDict[str, str], item_type: str) -> services.ItemFields:
    """The item form's text boxes as fields (options one per line, keys by type)."""
    options = _labelled_lines(form.get("options") or "", item_type) if item_type in OPTION_TYPES else []
    tags = [t.strip() for t in re.split(r"[,，]", form.get("tags") or "") if t.strip()]
    settings: dict[str, Any] = {}
    if (form.get("rubric") or "").strip():
        settings["rubric"] = form.get("rubric", "").strip()
    if item_type == "fill_blank" and form.get("case_sensitive"):
        settings["case_sensitive"] = True
    if item_type == "fill_blank" and form.get("order_free"):
        settings["order_free"] = True

    def number(name: str, default: float) -> Any:
        text = (form.get(name) or "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            return text  # refused with the field and value named by the validation
        return int(value) if name in ("seconds", "level") and value == int(value) else value

    return services.ItemFields(
        type=item_type,
        stem=form.get("stem") or "",
        options=options,
        key=_form_key(form, item_type, options),
        points=number("points", 1.0),
        seconds=number("seconds", 60),
        level=number("level", 3),
        tags=tags,
        knowledge_point_ids=[int(v) for v in form.getlist("kp") if v.isdigit()],
        explanation=form.get("explanation") or None,
        settings=settings,
    )


def _form_values(item: Item) -> dict[str, Any]:
    """An item's current version as the form's text boxes."""
    v = item.current_version
    if v is None:
        return {}
    lines = []
    side = "left"
    for o in v.options or []:
        if o.get("side") == "right" and side == "left":
            lines.append("---")
            side = "right"
        lines.append(f"{o['key']}. {o.get('text', '')}")
    key: Any = v.key
    values: dict[str, Any] = {}
    if item.type in (ItemType.MULTIPLE_CHOICE, ItemType.ORDERING):
        key = ",".join(v.key or [])
    elif item.type is ItemType.TRUE_FALSE:
        key = "true" if v.key else "false"
    elif item.type is ItemType.FILL_BLANK:
        key = "\n".join("|".join(map(str, b.get("accepted", []))) for b in v.key or [])
    elif item.type is ItemType.NUMERICAL:
        spec = v.key or {}
        values = {
            "value": spec.get("value", ""),
            "tolerance": spec.get("tolerance", 0),
            "units": ", ".join(spec.get("units") or []),
        }
        key = ""
    elif item.type is ItemType.MATCHING:
        key = "\n".join(f"{left}={right}" for left, right in (v.key or {}).items())
    elif item.type in (ItemType.SHORT_ANSWER, ItemType.ESSAY):
        key = (v.key or {}).get("reference", "") if isinstance(v.key, dict) else (v.key or "")
    settings = v.settings or {}
    return values | {
        "stem": v.stem,
        "options": "\n".join(lines),
        "key": key,
        "points": f"{v.points:g}",
        "seconds": v.seconds,
        "level": item.level,
        "tags": ", ".join(item.tags or []),
        "explanation": v.explanation or "",
        "rubric": settings.get("rubric", ""),
        "case_sensitive": settings.get("case_sensitive", False),
        "order_free": settings.get("order_free", False),
        "kp": [kp.id for kp in item.knowledge_points],
    }


def _item(item_id: int, edit: bool = False) -> Item:
    found = db.session.get(Item, item_id)
    if found is None:
        abort(404)
    require_bank(current_user, found.bank_id, edit=edit)
    return found


def _attach_uploads(item: Item, version: ItemVersion | None) -> None:
    """Images chosen in the item form become the item's assets (shown in the stem)."""
    files = [(f.filename, f.read()) for f in request.files.getlist("images") if f and f.filename]
    if files and version is not None:
        services.attach_images(db.session, item, version, files, current_app.config["STORAGE_DIR"])


def _item_form(bank: ItemBank, item: Item | None, item_type: str, values: dict[str, Any]) -> str:
    return render_template(
        "itembank/item_form.html", bank=bank, item=item, item_type=item_type, values=values, kps=_kps(bank)
    )


@bp.route("/<int:bank_id>/items/new", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def new_item(bank_id: int) -> Any:
    """Write a new item of the chosen type."""
    found = require_bank(current_user, bank_id, edit=True)
    item_type = request.values.get("type", "single_choice")
    if item_type not in {t.value for t in ItemType}:
        abort(404)
    values: dict[str, Any] = {}
    if request.method == "POST":
        fields = _fields_from_form(request.form, item_type)
        try:
            item = services.create_item(db.session, found, current_user, fields)
            _attach_uploads(item, item.current_version)
        except ValidationFailed as err:
            db.session.rollback()
            flash_problems(err)
            values = request.form.to_dict() | {"kp": fields.knowledge_point_ids}
            return _item_form(found, None, item_type, values), 422
        db.session.commit()
        flash(_("Item saved."), "ok")
        return redirect(url_for("itembank.item", item_id=item.id))
    return _item_form(found, None, item_type, values)


@bp.route("/items/<int:item_id>")
@role_required(Role.EXAMINER)
def item(item_id: int) -> Any:
    """An item as students see it (math rendered), with its version history; ?version=N shows an old one."""
    found = _item(item_id)
    number = request.args.get("version", type=int)
    shown = found.current_version
    if number is not None:
        shown = db.session.scalar(
            select(ItemVersion).where(ItemVersion.item_id == found.id, ItemVersion.number == number)
        )
        if shown is None:
            abort(404)
    return render_template(
        "itembank/item.html", item=found, shown=shown, render=render_content, can_edit=_can_edit(found.bank)
    )


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
            _attach_uploads(found, version)
        except ValidationFailed as err:
            db.session.rollback()
            flash_problems(err)
            values = request.form.to_dict() | {"kp": fields.knowledge_point_ids}
            return _item_form(found.bank, found, found.type.value, values), 422
        db.session.commit()
        flash(_("Saved as version %(n)s.", n=version.number), "ok")
        return redirect(url_for("itembank.item", item_id=found.id))
    return _item_form(found.bank, found, found.type.value, values)


@bp.route("/items/<int:item_id>/status", methods=["POST"])
@role_required(Role.EXAMINER)
def item_status(item_id: int) -> Any:
    """Retire or restore an item."""
    found = _item(item_id, edit=True)
    try:
        services.set_status(db.session, found, request.form.get("status", ""))
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(_("Item retired.") if found.status == "retired" else _("Item restored."), "ok")
    return redirect(url_for("itembank.item", item_id=found.id))


@bp.route("/assets/<int:asset_id>/<path:name>")
@login_required
def asset(asset_id: int, name: str) -> Any:
    """An item's media file, for those who may see the item (bank readers, the exam's students and staff)."""
    found = db.session.get(ItemAsset, asset_id)
    if found is None or not services.can_view_asset(db.session, current_user, found):
        abort(404)
    path = services.asset_file(current_app.config["STORAGE_DIR"], found)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype=found.mime, download_name=Path(found.name).name, max_age=3600)
    # An uploaded SVG or HTML file opened directly must not run script in our origin.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
    )
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# --- knowledge points ------------------------------------------------------------------------------------------


@bp.route("/<int:bank_id>/knowledge-points", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def knowledge_points(bank_id: int) -> Any:
    """The subject's knowledge-point hierarchy; add a point at the top or under any other."""
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
            flash_problems(err)
        else:
            db.session.commit()
            flash(_("Knowledge point added."), "ok")
        return redirect(url_for("itembank.knowledge_points", bank_id=bank_id))
    children = services.knowledge_tree(db.session, found.subject_id)
    return render_template(
        "itembank/knowledge_points.html", bank=found, children=children, points=_kps(found), can_edit=_can_edit(found)
    )


# --- import and export -----------------------------------------------------------------------------------------


def _upload_dir() -> Path:
    path = Path(current_app.config["STORAGE_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _forget_old_uploads(folder: Path) -> None:
    """Previews nobody confirmed are deleted after a day."""
    cutoff = time.time() - PENDING_IMPORT_SECONDS
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


@bp.route("/<int:bank_id>/import", methods=["GET", "POST"])
@role_required(Role.EXAMINER)
def import_items(bank_id: int) -> Any:
    """Upload -> a dry-run preview of what would be imported and rejected -> confirm -> one transaction.

    The upload waits for the confirmation in a file under STORAGE_DIR/imports named by a random token that only
    this browser session knows, so the teacher does not upload twice."""
    found = require_bank(current_user, bank_id, edit=True)
    if request.method == "GET":
        return render_template("itembank/import.html", bank=found, report=None)
    on_duplicate = "update" if request.form.get("on_duplicate") == "update" else "skip"
    token = request.form.get("token", "")
    if token:
        pending = session.get("pending_import") or {}
        path = _upload_dir() / token if _TOKEN.match(token) else None
        if pending.get("token") != token or pending.get("bank_id") != found.id or path is None or not path.exists():
            flash(_("The preview expired; upload the file again."), "error")
            return redirect(url_for("itembank.import_items", bank_id=bank_id))
        data, filename, dry_run = path.read_bytes(), str(pending["filename"]), False
        on_duplicate = pending.get("on_duplicate", "skip")
    else:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a file."), "error")
            return redirect(url_for("itembank.import_items", bank_id=bank_id))
        data, filename, dry_run = upload.read(), Path(upload.filename).name, True
    preview: list[dict[str, Any]] = []
    try:
        report = services.import_items(
            db.session, found, current_user, filename, data, dry_run=dry_run, on_duplicate=on_duplicate, preview=preview
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
        return render_template("itembank/import.html", bank=found, report=None), 422
    if dry_run:
        db.session.rollback()
        token = secrets.token_hex(16)
        folder = _upload_dir()
        _forget_old_uploads(folder)
        (folder / token).write_bytes(data)
        session["pending_import"] = {
            "token": token, "bank_id": found.id, "filename": filename, "on_duplicate": on_duplicate,
        }  # fmt: skip
        return render_template(
            "itembank/import.html", bank=found, report=report, preview=preview, token=token, filename=filename
        )
    db.session.commit()
    (_upload_dir() / token).unlink(missing_ok=True)
    session.pop("pending_import", None)
    flash(_("%(n)s items imported.", n=report["imported"]), "ok")
    return render_template(
        "itembank/import.html", bank=found, report=report, preview=preview, token=None, filename=filename, done=True
    )


@bp.route("/<int:bank_id>/export")
@role_required(Role.EXAMINER)
def export(bank_id: int) -> Any:
    """Download the bank, or the items that match the search filters, in an exchange format."""
    from itembank.formats.detect import EXTENSIONS, MIME_TYPES

    found = require_bank(current_user, bank_id)
    fmt = request.args.get("format", "xlsx")
    item_ids = None
    if any(request.args.get(k) for k in ("q", "type", "kp", "tag", "level", "status")):
        statement = services.search_query(db.session, found, **_search_args(request.args))
        item_ids = list(db.session.scalars(statement.with_only_columns(Item.id)))
    try:
        data = services.export_items(db.session, found, fmt, item_ids)
    except ValidationFailed as err:
        flash_problems(err)
        return redirect(url_for("itembank.bank", bank_id=bank_id, **request.args.to_dict()))
    suffix = EXTENSIONS.get(fmt, "." + fmt)
    return Response(
        data,
        mimetype=MIME_TYPES.get(fmt, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="bank-{found.id}-{fmt}{suffix}"'},
    )


@bp.route("/templates/items-<any(zh, en):locale>.docx")
@role_required(Role.EXAMINER)
def word_template_download(locale: str) -> Any:
    """The Word layout the importer reads, with examples of every item type, in Chinese or English."""
    from itembank.formats.docx import word_template

    return Response(
        word_template(locale),
        mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f'attachment; filename="item-template-{locale}.docx"'},
    )
