"""CP-SAT assembly against brute force and against the independent checker, on small seeded banks."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from itembank.assembly.check import check_forms
from itembank.assembly.explain import render
from itembank.assembly.model import Bank, Condition, Constraint, Item, Objective, PassageRule, Spec
from itembank.assembly.profile import bank_profile
from itembank.assembly.solver import assemble
from itembank.assembly.synthetic import make_bank, make_spec


def tiny_bank(n: int = 12, seed: int = 3) -> Bank:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        items.append(
            Item(
                item_id=f"T{i}",
                a=float(rng.uniform(0.6, 2.0)),
                b=float(rng.normal()),
                c=0.1,
                type="single_choice" if i % 3 else "fill_blank",
                points=2.0 if i % 3 else 3.0,
                seconds=60.0,
                attributes={
                    "knowledge_point": (f"{1 + i % 2}.{1 + i % 3}",),
                    "level": (("easy", "medium", "hard")[i % 3],),
                },
            )
        )
    return Bank(tuple(items))


def test_maximin_matches_brute_force() -> None:
    bank = tiny_bank()
    spec = Spec(
        length=(4, 4),
        constraints=(Constraint((Condition("type", "fill_blank"),), min=1, max=2),),
        objective=Objective("maximin_info", (-1.0, 0.0, 1.0)),
    )
    info, _ = bank_profile(bank, spec.objective.thetas)
    best = max(
        info[list(c)].sum(axis=0).min()
        for c in combinations(range(len(bank)), 4)
        if 1 <= sum(bank.items[i].type == "fill_blank" for i in c) <= 2
    )
    res = assemble(bank, spec, time_limit=10)
    assert res.status == "optimal" and res.ok
    assert_allclose(res.objective, best, rtol=1e-3)
    assert res.bound is not None and res.bound >= res.objective - 1e-9
    assert res.bank_bound is not None and res.bank_bound >= res.objective - 1e-6
    assert_allclose(min(res.forms[0].information), res.objective)


def test_parallel_forms_disjoint_with_enemies_passages_and_hierarchy() -> None:
    bank = make_bank(300, seed=5, passage_share=0.1)
    spec = make_spec(12, forms=3, constraints=16)
    res = assemble(bank, spec, time_limit=8)
    assert res.ok, res.messages
    ids = [set(f.item_ids) for f in res.forms]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert check_forms(bank, spec, [f.item_ids for f in res.forms]) == []
    # chapter lines like knowledge_point=3 must count 3.1, 3.2 ... (hierarchy) — recount by hand
    line = spec.constraints[0]
    for f in res.forms:
        n = sum(
            any(
                v.split(".")[0] == line.conditions[0].value
                for v in bank.items[bank.index()[i]].values("knowledge_point")
            )
            for i in f.item_ids
        )
        assert line.min <= n <= line.max


def test_decomposition_path_gives_checked_forms_and_valid_bound() -> None:
    bank = make_bank(800, seed=9)
    spec = make_spec(10, forms=4, constraints=14)
    res = assemble(bank, spec, time_limit=8, prefilter_pool=True, warm_start=True, gap=0.02)
    assert res.ok, res.messages
    assert res.bound is not None and res.bank_bound is not None
    assert res.objective <= res.bound + 1e-9 and res.objective <= res.bank_bound + 1e-9
    assert res.first_feasible_seconds is not None


def test_pair_search_moves_information_from_a_rich_form_to_a_poor_one() -> None:
    """With no unused items left, only trading items between forms can lift the weakest form."""
    import time
    from dataclasses import replace

    from itembank.assembly import solver as S

    bank = make_bank(400, seed=5, enemy_share=0.0, passage_share=0.0)
    spec = make_spec(8, forms=2, constraints=6)
    d = S._prepare(bank, spec)
    single = replace(d, spec=replace(spec, forms=1))
    rich = S._solve_one(single, d.eligible, 3.0, 1, 0)
    assert rich is not None
    rest = np.array([i for i in d.eligible.tolist() if i not in set(rich)])
    poor_pool = rest[np.argsort(S._pool_score(d, rest)[rest])[: len(rest) // 2]]  # the weaker half of what is left
    poor = S._solve_one(single, poor_pool, 3.0, 1, 0)
    assert poor is not None
    pool = np.array(sorted(set(rich) | set(poor)))
    before = S._form_values(d, [rich, poor])
    t0 = time.perf_counter()
    forms = S._improve(d, pool, [list(rich), list(poor)], None, set(), t0, t0 + 4.0, 1, 0.0, None, 0)
    after = S._form_values(d, forms)
    assert min(after) > min(before) + 0.05 * (max(before) - min(before))
    assert not check_forms(bank, spec, [[bank.items[i].item_id for i in f] for f in forms])


def test_overlap_cap_include_exclude_and_exposure() -> None:
    bank = tiny_bank(14)
    uses = {"T5": 3}
    bank = Bank(tuple(Item(**{**it.__dict__, "uses": uses.get(it.item_id, 0)}) for it in bank.items))
    spec = Spec(forms=2, length=(5, 5), max_overlap=1, include=("T0",), exclude=("T1",), max_uses=3)
    res = assemble(bank, spec, time_limit=8)
    assert res.ok
    a, b = (set(f.item_ids) for f in res.forms)
    assert "T0" in a and "T0" in b and len(a & b) <= 1
    assert "T1" not in a | b and "T5" not in a | b


def test_k_of_passage_and_friends() -> None:
    items = list(tiny_bank(12).items)
    items = [
        Item(**{**it.__dict__, "attributes": {**it.attributes, "passage_id": ("P1",)}}) if i < 5 else it
        for i, it in enumerate(items)
    ]
    bank = Bank(tuple(items))
    spec = Spec(length=(6, 6), passages=PassageRule(2, 3), friends=(("T6", "T7"),), include=("T0",))
    res = assemble(bank, spec, time_limit=8)
    assert res.ok
    chosen = set(res.forms[0].item_ids)
    assert 2 <= len(chosen & {f"T{i}" for i in range(5)}) <= 3
    assert ({"T6", "T7"} <= chosen) or not ({"T6", "T7"} & chosen)


@pytest.mark.parametrize("kind", ["info_target", "tcc_match"])
def test_target_objectives_minimise_the_worst_deviation(kind: str) -> None:
    bank = tiny_bank(12)
    thetas = (-1.0, 0.0, 1.0)
    info, score = bank_profile(bank, thetas)
    rows = info if kind == "info_target" else score
    targets = tuple(float(v) for v in rows[[0, 4, 8]].sum(axis=0))  # reachable exactly
    spec = Spec(length=(3, 3), objective=Objective(kind, thetas, targets))
    res = assemble(bank, spec, time_limit=8)
    assert res.ok
    assert_allclose(res.objective, 0.0, atol=2e-3 * max(targets))


def test_difficulty_target_without_irt() -> None:
    items = [
        Item(item_id=f"D{i}", type="single_choice", attributes={"level": (("easy", "medium", "hard")[i % 3],)})
        for i in range(9)
    ]
    spec = Spec(length=(3, 3), objective=Objective("difficulty_target", (), (), mean_difficulty=3.0))
    res = assemble(Bank(tuple(items)), spec, time_limit=5)
    assert res.ok
    assert_allclose(res.forms[0].mean_difficulty, 3.0)


def test_infeasible_blueprint_is_explained_with_numbers_from_the_solver_core() -> None:
    bank = tiny_bank(12)
    # 4 hard items exist (i % 3 == 2); asking for 6 together with an easy line the core must name the hard line only
    spec = Spec(
        length=(8, 8),
        constraints=(
            Constraint((Condition("level", "hard"),), min=6),
            Constraint((Condition("level", "easy"),), max=4),
        ),
    )
    res = assemble(bank, spec, time_limit=8)
    assert res.status == "infeasible" and not res.forms
    codes = [m.code for m in res.messages]
    assert codes[0] == "conflict"
    need = [m for m in res.messages if m.code == "need_items"]
    assert len(need) == 1 and need[0].params["need"] == 6 and need[0].params["have"] == 4
    assert "the bank has 4" in render(need[0], "en")
    assert "题库只有 4 道" in render(need[0], "zh_CN")
    assert "难度hard" in render(need[0], "zh_CN")


def test_conflict_between_two_lines_names_both() -> None:
    bank = tiny_bank(12)
    spec = Spec(
        length=(4, 4),
        constraints=(
            Constraint((Condition("type", "fill_blank"),), min=3),
            Constraint((Condition("level", "easy"),), max=1),
        ),
    )
    # every fill_blank item is easy (i % 3 == 0), so >= 3 fill_blank contradicts <= 1 easy
    res = assemble(bank, spec, time_limit=8)
    assert res.status == "infeasible"
    assert {m.code for m in res.messages} == {"conflict", "need_items", "max_items"}


def test_invalid_blueprint_reports_the_field() -> None:
    res = assemble(tiny_bank(), Spec(length=(3, 3), include=("NOPE",)), time_limit=2)
    assert res.status == "invalid"
    assert res.messages[0].params["field"] == "include" and "NOPE" in str(res.messages[0].params["problem"])


def test_progress_is_reported() -> None:
    seen = []
    assemble(tiny_bank(), Spec(length=(4, 4)), time_limit=5, progress=seen.append)
    assert seen and all(p.bound >= p.objective - 1e-6 for p in seen)


def test_a_failing_progress_callback_does_not_abort_the_search() -> None:
    """An exception raised in the solver's thread would terminate the process; it is logged instead."""
    calls = []

    def broken(p: object) -> None:
        calls.append(p)
        raise RuntimeError("no application context")

    res = assemble(tiny_bank(), Spec(length=(4, 4)), time_limit=5, progress=broken)
    assert res.ok and len(calls) == 1


def test_counting_conflict_is_proven_quickly_with_assumptions() -> None:
    # more items of one type than the form has places: needs the LP relaxation inside the core search
    bank = make_bank(200, seed=4)
    spec = Spec(length=(8, 8), constraints=(Constraint((Condition("type", "single_choice"),), min=12),))
    res = assemble(bank, spec, time_limit=5)
    assert res.status == "infeasible" and res.seconds < 5
    assert {m.code for m in res.messages} == {"conflict", "length", "need_items"}


def test_parallel_counting_conflict_is_proven_by_the_lp_relaxation() -> None:
    bank = tiny_bank(12)  # 4 hard items
    spec = Spec(forms=3, length=(3, 3), max_overlap=0, constraints=(Constraint((Condition("level", "hard"),), min=2),))
    res = assemble(bank, spec, time_limit=5)
    assert res.status == "infeasible" and res.seconds < 2
    assert {m.code for m in res.messages} == {"conflict", "need_items", "overlap"}
    need = next(m for m in res.messages if m.code == "need_items")
    assert (need.params["total"], need.params["have"]) == (6, 4)
