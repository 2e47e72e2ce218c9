"""Independent checker: verifies assembled forms against every rule of the blueprint, without the solver.

It recomputes everything from the bank and the item ids in plain Python, so a modelling error in the CP-SAT
formulation shows up as a violation instead of a wrong paper reaching a teacher.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations

from itembank.assembly.groups import enemy_sets, friend_sets, passage_bounds, passage_sets
from itembank.assembly.model import Bank, Message, Spec

_EPS = 1e-6


def _v(form: int, rule: str, detail: str) -> Message:
    return Message("violation", {"form": form + 1, "rule": rule, "detail": detail})


def check_forms(bank: Bank, spec: Spec, forms: Sequence[Sequence[str]]) -> list[Message]:
    """Every violated rule as a message (empty list = all forms satisfy the blueprint)."""
    out: list[Message] = []
    by_id = {it.item_id: it for it in bank.items}
    if len(forms) != spec.forms:
        out.append(_v(-1, "forms", f"{len(forms)} forms returned, {spec.forms} requested"))
    enemies = enemy_sets(bank, spec)
    friends = friend_sets(bank, spec)
    passages = passage_sets(bank, spec)
    excluded = set(spec.exclude)
    for f, ids in enumerate(forms):
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            out.append(_v(f, "unknown_item", ", ".join(unknown[:5])))
            continue
        dup = [i for i, n in Counter(ids).items() if n > 1]
        if dup:
            out.append(_v(f, "duplicate", ", ".join(dup[:5])))
        chosen = set(ids)
        items = [by_id[i] for i in chosen]
        if spec.length is not None and not spec.length[0] <= len(items) <= spec.length[1]:
            out.append(_v(f, "length", f"{len(items)} items, allowed {spec.length[0]}..{spec.length[1]}"))
        pts = sum(it.points for it in items)
        if spec.points is not None and not spec.points[0] - _EPS <= pts <= spec.points[1] + _EPS:
            out.append(_v(f, "points", f"{pts:g} points, allowed {spec.points[0]:g}..{spec.points[1]:g}"))
        secs = sum(it.seconds for it in items)
        if spec.time is not None and not spec.time[0] - _EPS <= secs <= spec.time[1] + _EPS:
            out.append(_v(f, "time", f"{secs:g} s, allowed {spec.time[0]:g}..{spec.time[1]:g}"))
        for c in spec.constraints:
            hits = [it for it in items if all(cd.matches(it, cd.attribute in spec.hierarchical) for cd in c.conditions)]
            value = float(len(hits)) if c.on == "count" else sum(it.points for it in hits)
            if (c.min is not None and value < c.min - _EPS) or (c.max is not None and value > c.max + _EPS):
                out.append(_v(f, "constraint", f"{c.label()}: {c.on} {value:g}, allowed {c.min}..{c.max}"))
        for i in sorted(chosen & excluded):
            out.append(_v(f, "exclude", i))
        for i in spec.include:
            if i not in chosen:
                out.append(_v(f, "include", i))
        for s in enemies:
            together = chosen & set(s)
            if len(together) > 1:
                out.append(_v(f, "enemies", ", ".join(sorted(together))))
        for s in friends:
            together = chosen & set(s)
            if together and together != set(s):
                out.append(_v(f, "friends", ", ".join(sorted(set(s) - together))))
        for pid, members in passages.items():
            n = len(chosen & set(members))
            lo, hi = passage_bounds(len(members), spec)
            if n and not lo <= n <= hi:
                out.append(_v(f, "passage", f"{pid}: {n} of {len(members)} items, allowed {lo}..{hi}"))
    if spec.max_overlap is not None:
        for (f, a), (g, b) in combinations(enumerate(forms), 2):
            shared = len(set(a) & set(b))
            if shared > spec.max_overlap:
                out.append(_v(f, "overlap", f"forms {f + 1} and {g + 1} share {shared} > {spec.max_overlap}"))
    if spec.max_uses is not None:
        used = Counter(i for ids in forms for i in set(ids))
        for i, n in used.items():
            if i in by_id and by_id[i].uses + n > spec.max_uses:
                out.append(_v(-1, "exposure", f"{i}: {by_id[i].uses} past + {n} now > {spec.max_uses}"))
    return out
