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


def _initial_password() -> str:
    """A readable one-time password for a new student (no 0/O/1/l confusion)."""
    import secrets

    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def import_roster(session: Session, filename: str, data: bytes) -> list[tuple[User, str | None]]:
    """Create student accounts from a CSV/XLSX roster: username, name (or display_name), class, optional password.

    All or nothing: every bad row is named (spreadsheet row number, column, value) and no account is created.
    Rows without a password get a generated one, returned beside the user so it can be handed out once.
    """
    from exam.tabular import read_rows, require_columns

    rows = read_rows(filename, data)
    if not rows:
        raise ValidationFailed.of(f"{filename}: no students in the file.", [Problem("file", "only a header row")])
    require_columns(filename, rows, ["username"])
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    prepared = []
    existing = set(session.scalars(select(User.username).where(User.username.in_([r["username"] for r in rows]))))
    for number, row in enumerate(rows, start=2):
        username = row["username"]
        name = row.get("name") or row.get("display_name") or username
        password = row.get("password") or None
        for p in user_problems(username, "student", name, password):
            problems.append(Problem(p.field, p.message, row=number, value=p.value))
        if username in existing:
            problems.append(Problem("username", "already exists", row=number, value=username))
        if username in seen:
            problems.append(Problem("username", f"repeats row {seen[username]}", row=number, value=username))
        seen.setdefault(username, number)
        prepared.append(
            (username, name, row.get("class") or row.get("class_name") or None, row.get("email") or None, password)
        )
    if problems:
        raise ValidationFailed.of(f"{filename}: no students were imported.", problems)
    created = []
    for username, name, class_name, email, password in prepared:
        chosen = password or _initial_password()
        user = create_user(
            session,
            username=username,
            role="student",
            display_name=name,
            password=chosen,
            email=email,
            class_name=class_name,
        )
        created.append((user, None if password else chosen))
    return created
