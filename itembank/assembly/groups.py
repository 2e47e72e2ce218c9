"""Item sets a blueprint talks about: enemy sets, friend sets and passages, from bank columns and the spec."""

from __future__ import annotations

from collections import defaultdict

from itembank.assembly.model import Bank, Spec


def _by_attribute(bank: Bank, attribute: str) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = defaultdict(list)
    for it in bank.items:
        for v in it.values(attribute):
            if v:
                sets[v].append(it.item_id)
    return dict(sets)


def enemy_sets(bank: Bank, spec: Spec) -> list[tuple[str, ...]]:
    """Sets whose members may never share a form (at most one per form); singletons are dropped."""
    out = [tuple(v) for v in _by_attribute(bank, spec.enemy_attribute).values()] + [tuple(s) for s in spec.enemies]
    return [s for s in out if len(set(s)) > 1]


def friend_sets(bank: Bank, spec: Spec) -> list[tuple[str, ...]]:
    """Sets whose members appear together or not at all."""
    out = [tuple(v) for v in _by_attribute(bank, spec.friend_attribute).values()] + [tuple(s) for s in spec.friends]
    return [s for s in out if len(set(s)) > 1]


def passage_sets(bank: Bank, spec: Spec) -> dict[str, tuple[str, ...]]:
    """passage id -> its items (passages with a single item are still sets: the k-of rule may apply)."""
    return {k: tuple(v) for k, v in _by_attribute(bank, spec.passage_attribute).items()}


def passage_bounds(size: int, spec: Spec) -> tuple[int, int]:
    """(k_min, k_max) items of a passage of `size` items, when the passage is used."""
    rule = spec.passages
    if rule.k_min is None and rule.k_max is None:
        return size, size
    lo = rule.k_min if rule.k_min is not None else 1
    hi = rule.k_max if rule.k_max is not None else size
    return min(lo, size), min(hi, size)
