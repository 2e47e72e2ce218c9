"""Navigation links that domains add to the top bar for the roles they serve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import url_for

from exam.auth.models import Role, User


@dataclass(frozen=True)
class NavLink:
    """A top-bar link shown to users holding one of `roles`."""

    endpoint: str
    label: Callable[[], str]
    roles: frozenset[Role]


NAV_LINKS: list[NavLink] = []


def register_nav(endpoint: str, label: Callable[[], str], roles: set[Role]) -> None:
    """Add a link (called at import time by a domain's views module). `label` is called per request."""
    NAV_LINKS.append(NavLink(endpoint, label, frozenset(roles)))


def extra_nav_links(user: User) -> list[dict[str, Any]]:
    """Links for this user, in registration order."""
    return [
        {"url": url_for(link.endpoint), "label": link.label()}
        for link in NAV_LINKS
        if user.role in link.roles or user.role is Role.ADMIN
    ]
