"""Pure delivery rules: the clock, shuffling, and which saves a sitting accepts. No Flask, no database."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class DeliveryError(Exception):
    """A request the delivery rules refuse; `code` is stable for APIs, `message` is for people."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sitting_deadline(started_at: datetime, duration_minutes: int, extra_minutes: int, closes_at: datetime) -> datetime:
    """When a sitting ends: its own duration (with accommodations), but never after the exam window closes.

    Extra time is an accommodation for the student's working time, so it extends past the window close too.
    """
    own = started_at + timedelta(minutes=duration_minutes + extra_minutes)
    window = closes_at + timedelta(minutes=extra_minutes)
    return min(own, window)


def remaining_seconds(deadline: datetime, now: datetime) -> int:
    """Whole seconds left before the deadline (0 once it has passed)."""
    return max(0, int((deadline - now).total_seconds()))


def accepts_saves(deadline: datetime, now: datetime, grace_seconds: int) -> bool:
    """Saves queued offline just before the deadline arrive late; a short grace keeps them."""
    return now <= deadline + timedelta(seconds=grace_seconds)


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def shuffled_order(ids: Sequence[int], *, shuffle: bool, seed: tuple[object, ...]) -> list[int]:
    """The order a student sees: deterministic per seed so a resumed or re-rendered sitting never reshuffles."""
    order = list(ids)
    if shuffle:
        _rng("items", *seed).shuffle(order)
    return order


def shuffled_options(keys: Sequence[str], *, shuffle: bool, seed: tuple[object, ...]) -> list[str]:
    """Option order for one item in one sitting; keys keep their letters so answers stay comparable."""
    order = list(keys)
    if shuffle:
        _rng("options", *seed).shuffle(order)
    return order


def choose_form(forms: Sequence[int], assigned: int | None, seed: tuple[object, ...]) -> int:
    """The form a student receives: the roster's assignment, else a deterministic draw from the pool."""
    if assigned is not None:
        if assigned not in forms:
            raise DeliveryError("form_missing", f"form {assigned} does not exist in this paper", 500)
        return assigned
    return _rng("form", *seed).choice(list(forms))


@dataclass(frozen=True)
class TabClaim:
    """Outcome of a tab asking to hold a sitting."""

    granted: bool
    other_tab_active: bool


def claim_tab(
    current_tab: str | None, last_seen: datetime | None, tab: str, now: datetime, live_seconds: int, *, force: bool
) -> TabClaim:
    """Only one live tab or device writes to a sitting; a new one must take over explicitly (force).

    A tab not heard from within `live_seconds` is considered gone, so a crashed browser never locks a student out.
    """
    if current_tab is None or current_tab == tab:
        return TabClaim(True, False)
    stale = last_seen is None or (now - last_seen).total_seconds() > live_seconds
    if stale or force:
        return TabClaim(True, not stale)
    return TabClaim(False, True)


def is_blank_answer(answer: object) -> bool:
    """An answer that says nothing: None, empty text, empty list/dict, or a list of empty blanks."""
    if answer is None:
        return True
    if isinstance(answer, str):
        return not answer.strip()
    if isinstance(answer, list):
        return all(is_blank_answer(a) for a in answer)
    if isinstance(answer, dict):
        return all(is_blank_answer(v) for v in answer.values())
    return False
