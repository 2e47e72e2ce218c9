"""People: users and their roles."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from exam.db import TimestampMixin, db, str_enum


class Role(enum.StrEnum):
    """What a user may do. One role per account keeps permission checks simple and auditable."""

    ADMIN = "admin"
    EXAMINER = "examiner"
    PROCTOR = "proctor"
    MARKER = "marker"
    STUDENT = "student"


class User(UserMixin, TimestampMixin, db.Model):  # type: ignore[name-defined,misc]
    """An account. `username` is the login (student number for students)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    locale: Mapped[str | None] = mapped_column(String(10))
    class_name: Mapped[str | None] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    def has_role(self, *roles: Role) -> bool:
        """True when the user holds one of `roles` (admins hold every staff role)."""
        return self.role in roles or (self.role is Role.ADMIN and Role.STUDENT not in roles)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role.value}>"
