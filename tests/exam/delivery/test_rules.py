"""Pure delivery rules: the clock, shuffling, tab claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exam.delivery import rules

T0 = datetime(2026, 6, 7, 9, 0, tzinfo=UTC)


def test_deadline_is_own_duration_when_window_allows() -> None:
    assert rules.sitting_deadline(T0, 90, 0, T0 + timedelta(hours=3)) == T0 + timedelta(minutes=90)


def test_deadline_capped_by_window_close() -> None:
    closes = T0 + timedelta(minutes=30)
    assert rules.sitting_deadline(T0, 90, 0, closes) == closes


def test_extra_time_extends_past_window_close() -> None:
    closes = T0 + timedelta(minutes=30)
    assert rules.sitting_deadline(T0, 90, 15, closes) == closes + timedelta(minutes=15)
    assert rules.sitting_deadline(T0, 60, 15, T0 + timedelta(hours=5)) == T0 + timedelta(minutes=75)


def test_remaining_seconds_never_negative() -> None:
    assert rules.remaining_seconds(T0, T0 - timedelta(seconds=61)) == 61
    assert rules.remaining_seconds(T0, T0 + timedelta(seconds=5)) == 0


def test_grace_accepts_late_queued_saves_only_briefly() -> None:
    assert rules.accepts_saves(T0, T0 + timedelta(seconds=119), 120)
    assert not rules.accepts_saves(T0, T0 + timedelta(seconds=121), 120)


def test_shuffle_is_deterministic_per_seed_and_a_permutation() -> None:
    ids = list(range(1, 41))
    a = rules.shuffled_order(ids, shuffle=True, seed=(1, 7))
    assert a == rules.shuffled_order(ids, shuffle=True, seed=(1, 7))
    assert sorted(a) == ids and a != ids
    assert a != rules.shuffled_order(ids, shuffle=True, seed=(1, 8))
    assert rules.shuffled_order(ids, shuffle=False, seed=(1, 7)) == ids


def test_choose_form_respects_assignment_and_draws_from_pool() -> None:
    assert rules.choose_form([1, 2, 3], 2, seed=(1,)) == 2
    with pytest.raises(rules.DeliveryError):
        rules.choose_form([1, 2], 5, seed=(1,))
    drawn = {rules.choose_form([1, 2, 3], None, seed=(1, uid)) for uid in range(60)}
    assert drawn == {1, 2, 3}


def test_claim_tab_refuses_live_other_tab_unless_forced() -> None:
    now = T0
    assert rules.claim_tab(None, None, "a", now, 45, force=False).granted
    assert rules.claim_tab("a", now, "a", now, 45, force=False).granted
    refused = rules.claim_tab("a", now - timedelta(seconds=10), "b", now, 45, force=False)
    assert not refused.granted and refused.other_tab_active
    forced = rules.claim_tab("a", now - timedelta(seconds=10), "b", now, 45, force=True)
    assert forced.granted and forced.other_tab_active
    stale = rules.claim_tab("a", now - timedelta(seconds=60), "b", now, 45, force=False)
    assert stale.granted and not stale.other_tab_active


@pytest.mark.parametrize(
    ("answer", "blank"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        ([], True),
        (["", " "], True),
        ({}, True),
        ({"1": ""}, True),
        ("A", False),
        (["", "x"], False),
        (False, False),
        ({"1": "a"}, False),
    ],
)
def test_blank_answers(answer: object, blank: bool) -> None:
    assert rules.is_blank_answer(answer) is blank
