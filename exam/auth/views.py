"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from exam.auth.models import Role, User
from exam.auth.passwords import verify_password
from exam.db import db, utcnow
from exam.extensions import limiter

bp = Blueprint("auth", __name__)


def load_user(user_id: str) -> User | None:
    """Flask-Login loader: the active user with this id."""
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


class LoginForm(FlaskForm):  # type: ignore[misc]
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Keep me signed in"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never redirect a user to another host after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: User) -> str:
    """Where each role starts."""
    if user.role is Role.STUDENT:
        return url_for("delivery.my_exams")
    if user.role is Role.ADMIN:
        return url_for("admin.users")
    if user.role is Role.PROCTOR:
        return url_for("authoring.exams")
    return url_for("authoring.exams")


@bp.route("/")
def index() -> Any:
    """Send signed-in users to their start page, others to sign-in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login() -> Any:
    """Sign in. Wrong username and wrong password give the same message (no account probing)."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is not None and user.active and verify_password(user.password_hash, form.password.data):
            session.clear()  # a fresh session on sign-in defeats session fixation
            login_user(user, remember=bool(form.remember.data))
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
        flash(_("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    """Sign out (POST with CSRF, so a link on another site cannot sign a student out mid-exam)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str) -> Any:
    """Switch the UI language; remembered in the session and, when signed in, on the profile."""
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))
