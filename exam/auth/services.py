"""User management: creation and roster import with row-level errors."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam.auth.models import Role, User
from exam.auth.passwords import hash_password, validate_new_password
from exam.validation import Problem, ValidationFailed

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")


def user_problems(username: str, role: str, display_name: str, password: str | None) -> list[Problem]:
    """Everything wrong with a new user's fields (empty when acceptable)."""
    problems: list[Problem] = []
    if not USERNAME.match(username or ""):
        problems.append(Problem("username", "use 2-80 letters, digits, _ . @ or -", value=username))
    if role not in {r.value for r in Role}:
        problems.append(Problem("role", f"must be one of {', '.join(r.value for r in Role)}", value=role))
    if not (display_name or "").strip() or len(display_name) > 120:
        problems.append(Problem("display_name", "required, at most 120 characters", value=display_name))
    if password is not None and (why := validate_new_password(password)):
        problems.append(Problem("password", "at least 8 characters" if why == "too_short" else "too long"))
    return problems


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    display_name: str,
    password: str,
    email: str | None = None,
    class_name: str | None = None,
) -> User:
    """Create a user after validating every field; duplicate usernames are refused."""
    problems = user_problems(username, role, display_name, password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(Problem("username", "already exists", value=username))
    if problems:
        raise ValidationFailed.of("The user cannot be created.", problems)
    user = User(
        username=username,
        role=Role(role),
        display_name=display_name.strip(),
        email=email,
        class_name=class_name,
        password_hash=hash_password(password, fast=bool(current_app.config.get("ARGON2_FAST"))),
    )
    session.add(user)
    session.flush()
    return user
