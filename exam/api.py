"""/api/v1: the platform's JSON API (flask-smorest generates the OpenAPI document from these schemas)."""

from __future__ import annotations

from typing import Any

from flask_login import current_user, login_required
from flask_smorest import Blueprint
from marshmallow import Schema, fields

blp = Blueprint("api_me", __name__, url_prefix="/api/v1", description="The signed-in user")


class MeSchema(Schema):
    """The signed-in user."""

    id = fields.Int()
    username = fields.Str()
    display_name = fields.Str()
    role = fields.Function(lambda u: u.role.value)
    locale = fields.Str(allow_none=True)


@blp.route("/me")
@blp.response(200, MeSchema)
@login_required
def me() -> Any:
    """Who am I."""
    return current_user
