"""/api/v1 for examiners' item banks: banks, sharing, item search, create, read and edit (new versions once an
item has been delivered), and import with a dry run."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from exam.auth.access import require_bank, visible_banks_query
from exam.auth.decorators import role_required
from exam.auth.models import Role
from exam.db import db
from itembank import services
from itembank.models import Item

blp = Blueprint("api_itembank", __name__, url_prefix="/api/v1", description="Item banks for examiners")


class BankSchema(Schema):
    """An item bank."""

    id = fields.Int(dump_only=True)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    subject_id = fields.Int(required=True)
    owner = fields.Function(lambda b: b.owner.username, dump_only=True)


class ShareSchema(Schema):
    """Share a bank with a colleague."""

    username = fields.Str(required=True)
    can_edit = fields.Bool(load_default=False)


class ItemFieldsSchema(Schema):
    """An item's content in the canonical formats of DESIGN.md (key per type, options as {key, text})."""

    type = fields.Str(required=True)
    stem = fields.Str(required=True)
    options = fields.List(fields.Dict(), load_default=list)
    key = fields.Raw(load_default=None, allow_none=True)
    points = fields.Float(load_default=1.0)
    seconds = fields.Int(load_default=60)
    level = fields.Int(load_default=3)
    tags = fields.List(fields.Str(), load_default=list)
    knowledge_point_ids = fields.List(fields.Int(), load_default=list)
    explanation = fields.Str(load_default=None, allow_none=True)
    settings = fields.Dict(load_default=dict)
    source_id = fields.Str(load_default=None, allow_none=True)


class ItemSchema(Schema):
    """An item with its current version's content."""

    id = fields.Int()
    bank_id = fields.Int()
    type = fields.Function(lambda i: i.type.value)
    status = fields.Str()
    level = fields.Int()
    tags = fields.List(fields.Str())
    source_id = fields.Str(allow_none=True)
    version = fields.Function(lambda i: i.current_version.number if i.current_version else None)
    stem = fields.Function(lambda i: i.current_version.stem if i.current_version else "")
    options = fields.Function(lambda i: i.current_version.options if i.current_version else [])
    key = fields.Function(lambda i: i.current_version.key if i.current_version else None)
    points = fields.Function(lambda i: i.current_version.points if i.current_version else None)
    knowledge_points = fields.Function(lambda i: [kp.code for kp in i.knowledge_points])
    irt = fields.Function(lambda i: {"model": i.irt_model, "a": i.irt_a, "b": i.irt_b, "c": i.irt_c})


class SearchArgs(Schema):
    """Filters of the item search."""

    q = fields.Str(load_default="")
    type = fields.Str(load_default="")
    kp = fields.Int(load_default=None)
    tag = fields.Str(load_default="")
    level = fields.Int(load_default=None)
    status = fields.Str(load_default="active")
    page = fields.Int(load_default=1, validate=validate.Range(min=1))


class ItemPageSchema(Schema):
    """A page of search results."""

    total = fields.Int()
    page = fields.Int()
    per_page = fields.Int()
    items = fields.List(fields.Nested(ItemSchema))


class ImportResultSchema(Schema):
    """REPORT.json: imported, by_type, rejected [{item, reason}], warnings."""

    imported = fields.Int()
    by_type = fields.Dict()
    rejected = fields.List(fields.Dict())
    warnings = fields.List(fields.Str())


@blp.route("/banks")
class Banks(MethodView):
    """Banks I own or share."""

    @role_required(Role.EXAMINER)
    @blp.response(200, BankSchema(many=True))
    def get(self) -> Any:
        """My banks."""
        return db.session.scalars(visible_banks_query(current_user)).all()

    @role_required(Role.EXAMINER)
    @blp.arguments(BankSchema)
    @blp.response(201, BankSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a bank."""
        bank = services.create_bank(db.session, current_user, body["name"], body["subject_id"])
        db.session.commit()
        return bank


@blp.route("/banks/<int:bank_id>/shares")
class Shares(MethodView):
    """Sharing."""

    @role_required(Role.EXAMINER)
    @blp.arguments(ShareSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any], bank_id: int) -> None:
        """Share my bank with another examiner."""
        bank = require_bank(current_user, bank_id)
        if bank.owner_id != current_user.id and current_user.role is not Role.ADMIN:
            abort(403)
        services.share_bank(db.session, bank, body["username"], body["can_edit"])
        db.session.commit()


@blp.route("/banks/<int:bank_id>/items")
class BankItems(MethodView):
    """Items of a bank."""

    @role_required(Role.EXAMINER)
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, ItemPageSchema)
    def get(self, args: dict[str, Any], bank_id: int) -> Any:
        """Search: text (either language) or source id, type, knowledge point with its descendants, tag, level."""
        return services.search_items(
            db.session,
            current_user,
            bank_id,
            q=args["q"],
            item_type=args["type"],
            kp_id=args["kp"],
            tag=args["tag"],
            level=args["level"],
            status=args["status"],
            page=args["page"],
        )

    @role_required(Role.EXAMINER)
    @blp.arguments(ItemFieldsSchema)
    @blp.response(201, ItemSchema)
    def post(self, body: dict[str, Any], bank_id: int) -> Any:
        """Create an item; every problem with its fields is named and nothing is stored."""
        bank = require_bank(current_user, bank_id, edit=True)
        item = services.create_item(db.session, bank, current_user, services.ItemFields(**body))
        db.session.commit()
        return item


def _item(item_id: int, edit: bool = False) -> Item:
    item = db.session.get(Item, item_id)
    if item is None:
        abort(404)
    require_bank(current_user, item.bank_id, edit=edit)
    return item


@blp.route("/items/<int:item_id>")
class ItemResource(MethodView):
    """One item."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ItemSchema)
    def get(self, item_id: int) -> Any:
        """The item and its current version."""
        return _item(item_id)

    @role_required(Role.EXAMINER)
    @blp.arguments(ItemFieldsSchema)
    @blp.response(200, ItemSchema)
    def put(self, body: dict[str, Any], item_id: int) -> Any:
        """Edit; a version a delivered exam used is kept and the edit becomes a new version."""
        item = _item(item_id, edit=True)
        services.update_item(db.session, item, current_user, services.ItemFields(**body))
        db.session.commit()
        return item


@blp.route("/banks/<int:bank_id>/import")
class Import(MethodView):
    """Import a file into a bank."""

    @role_required(Role.EXAMINER)
    @blp.response(200, ImportResultSchema)
    def post(self, bank_id: int) -> Any:
        """Multipart `file` (xlsx, csv, json, QTI, Moodle XML, GIFT, Aiken, docx); `dry_run=1` stores nothing."""
        from flask import request

        from exam.validation import Problem, ValidationFailed

        bank = require_bank(current_user, bank_id, edit=True)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationFailed.of("No file.", [Problem("file", "send the items as multipart field `file`")])
        dry_run = request.form.get("dry_run") in ("1", "true", "yes")
        from flask import current_app

        report = services.import_items(
            db.session,
            bank,
            current_user,
            upload.filename,
            upload.read(),
            dry_run=dry_run,
            storage_dir=current_app.config["STORAGE_DIR"],
        )
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        return report
