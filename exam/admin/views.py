"""Administration: accounts and student rosters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from exam.auth.decorators import role_required
from exam.auth.models import Role, User
from exam.auth.services import create_user, import_roster
from exam.db import db
from exam.errors import flash_problems
from exam.validation import ValidationFailed

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@role_required(Role.ADMIN)
def users() -> Any:
    """All accounts, with forms to create one and import a roster."""
    rows = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", users=rows, roles=[r.value for r in Role])


@bp.route("/users/new", methods=["POST"])
@role_required(Role.ADMIN)
def new_user() -> Any:
    """Create one account."""
    form = request.form
    try:
        user = create_user(
            db.session,
            username=form.get("username", "").strip(),
            role=form.get("role", ""),
            display_name=form.get("display_name", "").strip(),
            password=form.get("password", ""),
            email=form.get("email") or None,
            class_name=form.get("class_name") or None,
        )
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
    else:
        db.session.commit()
        flash(_("Account %(name)s created.", name=user.username), "ok")
    return redirect(url_for("admin.users"))


@bp.route("/roster", methods=["POST"])
@role_required(Role.ADMIN)
def roster() -> Any:
    """Import students from a CSV/XLSX file; show generated initial passwords once."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV or XLSX file."), "error")
        return redirect(url_for("admin.users"))
    try:
        created = import_roster(db.session, upload.filename, upload.read())
    except ValidationFailed as err:
        db.session.rollback()
        flash_problems(err)
        return redirect(url_for("admin.users"))
    db.session.commit()
    return render_template("admin/roster_done.html", created=created)
