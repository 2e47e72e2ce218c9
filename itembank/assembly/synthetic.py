"""Seeded synthetic banks and blueprints for tests, benchmarks and demos (no real data needed)."""

from __future__ import annotations

import numpy as np

from itembank.assembly.model import Bank, Condition, Constraint, Item, Objective, Spec

TYPES = ("single_choice", "multiple_choice", "true_false", "fill_blank", "short_answer")
LEVELS = ("easy", "medium", "hard")


def make_bank(
    n: int,
    *,
    seed: int = 0,
    chapters: int = 8,
    sections: int = 4,
    enemy_share: float = 0.1,
    passage_share: float = 0.1,
    passage_size: int = 4,
) -> Bank:
    """A 3PL-calibrated bank with two-level knowledge points (`3.2`), levels, types, enemies and passages."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.3, n)
    b = rng.normal(0.0, 1.0, n)
    c = rng.uniform(0.0, 0.25, n)
    kinds = rng.choice(len(TYPES), n, p=[0.4, 0.15, 0.15, 0.2, 0.1])
    items = []
    n_enemy = int(n * enemy_share)
    enemy_of = {int(i): f"E{j // 3}" for j, i in enumerate(rng.permutation(n)[:n_enemy])}
    n_pass = int(n * passage_share) // passage_size * passage_size
    passage_of = {int(i): f"P{j // passage_size}" for j, i in enumerate(rng.permutation(n)[:n_pass])}
    for i in range(n):
        kp = f"{rng.integers(1, chapters + 1)}.{rng.integers(1, sections + 1)}"
        level = LEVELS[0 if b[i] < -0.5 else (2 if b[i] > 0.5 else 1)]
        t = TYPES[kinds[i]]
        points = {"short_answer": 5.0, "multiple_choice": 3.0}.get(t, 2.0)
        attrs: dict[str, tuple[str, ...]] = {"knowledge_point": (kp,), "level": (level,)}
        if rng.random() < 0.15:  # some items test two knowledge points (multi-valued attribute)
            attrs["knowledge_point"] = (kp, f"{rng.integers(1, chapters + 1)}.{rng.integers(1, sections + 1)}")
        if i in enemy_of:
            attrs["enemy_group"] = (enemy_of[i],)
        if i in passage_of:
            attrs["passage_id"] = (passage_of[i],)
        items.append(
            Item(
                item_id=f"I{i:05d}",
                a=float(a[i]),
                b=float(b[i]),
                c=float(c[i]),
                type=t,
                points=points,
                seconds=float(rng.integers(30, 240)),
                attributes=attrs,
                uses=int(rng.poisson(1.0)),
            )
        )
    return Bank(tuple(items))


def content_constraints(spec_length: int, *, chapters: int = 8, sections: int = 4, total: int = 40) -> list[Constraint]:
    """About `total` content lines: ranges per chapter, per level, per type and minima on sections."""
    out: list[Constraint] = []
    per_chapter = spec_length / chapters
    for ch in range(1, chapters + 1):
        out.append(
            Constraint(
                (Condition("knowledge_point", str(ch)),),
                min=max(0, int(per_chapter) - 1),
                max=int(np.ceil(per_chapter)) + 2,
            )
        )
    for lv, share in zip(LEVELS, (0.3, 0.4, 0.3), strict=True):
        out.append(
            Constraint((Condition("level", lv),), min=int(spec_length * share) - 2, max=int(spec_length * share) + 2)
        )
    for t, lo, hi in (("single_choice", 0.3, 0.6), ("fill_blank", 0.1, 0.3), ("short_answer", 0.0, 0.15)):
        out.append(Constraint((Condition("type", t),), min=int(spec_length * lo), max=int(np.ceil(spec_length * hi))))
    sec = 0
    while len(out) < total:
        ch, s = sec % chapters + 1, sec // chapters % sections + 1
        out.append(Constraint((Condition("knowledge_point", f"{ch}.{s}"),), min=0 if sec % 3 else 1, max=3))
        sec += 1
    return out


def make_spec(length: int, forms: int = 1, *, constraints: int = 40, chapters: int = 8, sections: int = 4) -> Spec:
    """A maximin blueprint at theta -1, 0, 1 with about `constraints` content lines."""
    return Spec(
        forms=forms,
        length=(length, length),
        constraints=tuple(content_constraints(length, chapters=chapters, sections=sections, total=constraints)),
        objective=Objective("maximin_info", (-1.0, 0.0, 1.0)),
        max_overlap=0,
    )
