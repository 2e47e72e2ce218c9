"""Paper assembly with OR-Tools CP-SAT.

Formulation (why it is shaped like this):
- One boolean per (pool item, form). For large banks the pool is pre-filtered by information at the thetas and by
  coverage of every content line, so a 10,000-item bank does not become 100,000 booleans; if the pool proves
  infeasible the whole bank is searched, and an LP relaxation over the WHOLE bank gives a bound that stays valid
  whatever was filtered out (`Result.bank_bound`).
- Parallel forms are interchangeable, so forms are ordered by a weighted key (symmetry breaking).
- Disjoint forms use one at-most-one per item; a positive overlap cap uses one product literal per item and pair.
- A warm start comes from assembling the forms one after another (each a small single-form model).
- Infeasibility is explained from the solver's own core: every requirement is guarded by an assumption literal and
  `sufficient_assumptions_for_infeasibility` names the requirements that conflict, shrunk by deletion.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from ortools.sat.python import cp_model
from scipy import sparse
from scipy.optimize import linprog

from itembank.assembly.check import check_forms
from itembank.assembly.groups import enemy_sets, friend_sets, passage_bounds, passage_sets
from itembank.assembly.model import Bank, Form, Message, Progress, Result, Spec, relative_gap
from itembank.assembly.profile import bank_profile, item_difficulty

ProgressFn = Callable[[Progress], None]
log = logging.getLogger(__name__)

COEF_SCALE = 10_000  # the most informative pool item gets this integer weight per theta
POINT_SCALE = 100  # points are kept to 1/100
POOL_THRESHOLD = 12_000  # (eligible items x forms) above which the pool is pre-filtered
POOL_FACTOR = 3.0
PER_FORM_SECONDS = 0.4  # each form on its own sub-pool
FIRST_GAP = 0.005
PAIR_SECONDS = 0.7  # each re-solve of a pair of forms
PAIR_EXTRA = 80  # unused pool items offered to a pair (60-120 measured best at 10 x 40 of 10,000; 300 is slower)
BOUND_SHARE = 0.3  # of the remaining time, for proving the aggregate bound
BOUND_GAP = 0.0005
DISJOINT_SHARE = 0.4  # of the time, for disjoint forms that warm-start an overlap-capped model


@dataclass
class _Data:
    """Numbers the model needs, aligned with the bank's item order."""

    bank: Bank
    spec: Spec
    rows: np.ndarray  # (items, K) objective rows (information / target, info, expected score) or empty
    targets: np.ndarray  # (K,) targets in the rows' units (deviation objectives)
    diff: np.ndarray  # classical difficulty (difficulty objective)
    points: np.ndarray  # integer points (x POINT_SCALE)
    seconds: np.ndarray
    match: list[np.ndarray]  # per constraint: boolean mask of matching items
    eligible: np.ndarray  # indices
    info: np.ndarray  # (items, K) information for reporting
    tcc: np.ndarray  # (items, K) expected score for reporting
    index: dict[str, int] = field(default_factory=dict)


@dataclass
class _Built:
    model: cp_model.CpModel
    x: list[dict[int, cp_model.IntVar]]  # per form: item index -> var
    objective_scale: float  # real = scaled / scale
    assumptions: dict[int, Message]  # literal index -> requirement
    key_rows: np.ndarray | None  # symmetry-breaking weights per pool item
    y: cp_model.IntVar | None
    sense: int  # +1 maximise, -1 minimise, 0 none


def validate(bank: Bank, spec: Spec) -> list[Message]:
    """Problems with the blueprint itself (not infeasibility): unknown ids, contradictory bounds, missing targets."""
    out: list[Message] = []
    ids = bank.index()

    def bad(fld: str, problem: str) -> None:
        out.append(Message("invalid", {"field": fld, "problem": problem}))

    if spec.forms < 1:
        bad("forms", f"must be at least 1, got {spec.forms}")
    if spec.length is None and spec.points is None:
        bad("length", "give the length (items) or the total points")
    for name, rng in (("length", spec.length), ("points", spec.points), ("time", spec.time)):
        if rng is not None and (rng[0] > rng[1] or rng[0] < 0):
            bad(name, f"range {rng[0]}..{rng[1]} is empty or negative")
    for n, c in enumerate(spec.constraints, 1):
        if c.min is not None and c.max is not None and c.min > c.max:
            bad(f"constraints[{n}]", f"{c.label()}: min {c.min} > max {c.max}")
        if c.min is None and c.max is None:
            bad(f"constraints[{n}]", f"{c.label()}: give min or max")
    for fld, group in (("include", spec.include), ("exclude", spec.exclude)):
        for i in group:
            if i not in ids:
                bad(fld, f"item {i!r} is not in the bank")
    for i in set(spec.include) & set(spec.exclude):
        bad("include", f"item {i!r} is both included and excluded")
    for fld, sets in (("enemies", spec.enemies), ("friends", spec.friends)):
        for s in sets:
            for i in s:
                if i not in ids:
                    bad(fld, f"item {i!r} is not in the bank")
    ob = spec.objective
    if ob.kind in ("maximin_info", "info_target", "tcc_match") and not ob.thetas:
        bad("objective.thetas", "give at least one theta")
    if ob.kind == "info_target" and len(ob.targets) != len(ob.thetas):
        bad("objective.targets", f"{len(ob.targets)} targets for {len(ob.thetas)} thetas")
    if ob.kind == "maximin_info" and ob.targets and len(ob.targets) != len(ob.thetas):
        bad("objective.targets", f"{len(ob.targets)} relative targets for {len(ob.thetas)} thetas")
    if ob.kind == "maximin_info" and any(t <= 0 for t in ob.targets):
        bad("objective.targets", "relative targets must be positive")
    if ob.kind == "tcc_match" and ob.targets and len(ob.targets) != len(ob.thetas):
        bad("objective.targets", f"{len(ob.targets)} targets for {len(ob.thetas)} thetas")
    if ob.kind == "tcc_match" and not ob.targets and (spec.length is None or spec.length[0] != spec.length[1]):
        bad("objective.targets", "tcc_match without targets needs a fixed length (the bank's mean TCC is scaled)")
    if ob.kind == "difficulty_target":
        if ob.mean_difficulty is None:
            bad("objective.mean", "difficulty_target needs a target mean difficulty")
        if spec.length is None or spec.length[0] != spec.length[1]:
            bad("length", "difficulty_target needs a fixed length")
    for it in bank.items:
        if it.points < 0 or abs(it.points * POINT_SCALE - round(it.points * POINT_SCALE)) > 1e-6:
            bad(f"item {it.item_id} points", f"{it.points!r} must be non-negative with at most 2 decimals")
    return out


def _prepare(bank: Bank, spec: Spec) -> _Data:
    ob = spec.objective
    n = len(bank)
    k = len(ob.thetas)
    if ob.kind in ("maximin_info", "info_target", "tcc_match"):
        info, tcc = bank_profile(bank, ob.thetas)
    else:
        info, tcc = np.zeros((n, 0)), np.zeros((n, 0))
        if ob.thetas:
            try:
                info, tcc = bank_profile(bank, ob.thetas)
            except ValueError:
                info, tcc = np.zeros((n, 0)), np.zeros((n, 0))
    targets = np.zeros(k)
    if ob.kind == "maximin_info":
        rel = np.asarray(ob.targets, float) if ob.targets else np.ones(k)
        rows = info / rel[None, :]
    elif ob.kind == "info_target":
        rows, targets = info, np.asarray(ob.targets, float)
    elif ob.kind == "tcc_match":
        rows = tcc
        targets = np.asarray(ob.targets, float) if ob.targets else tcc.mean(axis=0) * spec.length[0]  # type: ignore[index]
    else:
        rows = np.zeros((n, 0))
    diff = np.array([item_difficulty(it) for it in bank.items]) if ob.kind == "difficulty_target" else np.zeros(n)
    excluded = set(spec.exclude)
    eligible = np.array(
        [
            i
            for i, it in enumerate(bank.items)
            if it.item_id not in excluded and (spec.max_uses is None or it.uses < spec.max_uses)
        ],
        dtype=int,
    )
    match = [
        np.array([all(cd.matches(it, cd.attribute in spec.hierarchical) for cd in c.conditions) for it in bank.items])
        for c in spec.constraints
    ]
    return _Data(
        bank=bank,
        spec=spec,
        rows=rows,
        targets=targets,
        diff=diff,
        points=np.array([round(it.points * POINT_SCALE) for it in bank.items], dtype=np.int64),
        seconds=np.array([round(it.seconds) for it in bank.items], dtype=np.int64),
        match=match,
        eligible=eligible,
        info=info,
        tcc=tcc,
        index=bank.index(),
    )


def _closure(d: _Data, keep: set[int]) -> set[int]:
    """Add whole passages and friend sets of kept items, and every included item."""
    spec = d.spec
    elig = set(d.eligible.tolist())
    sets = list(passage_sets(d.bank, spec).values()) + friend_sets(d.bank, spec)
    for s in sets:
        members = {d.index[i] for i in s if i in d.index}
        if members & keep:
            keep |= members & elig
    keep |= {d.index[i] for i in spec.include}
    return keep


def prefilter(d: _Data, factor: float = POOL_FACTOR) -> np.ndarray:
    """Pool of promising items: the most informative at each theta and at every content line with a minimum."""
    spec = d.spec
    elig = d.eligible
    if spec.objective.kind != "maximin_info" or d.rows.shape[1] == 0:
        return elig
    length = spec.length[1] if spec.length else max(1, int(len(elig) / max(1, spec.forms)))
    need = math.ceil(factor * spec.forms * length)
    if need >= len(elig):
        return elig
    rows = d.rows[elig]
    norm = rows / np.maximum(rows.max(axis=0, keepdims=True), 1e-12)
    total = norm.min(axis=1) + 0.1 * norm.mean(axis=1)
    keep: set[int] = set()
    k = rows.shape[1]
    per_theta = math.ceil(need / k)
    for j in range(k):
        keep |= set(elig[np.argsort(-norm[:, j], kind="stable")[:per_theta]].tolist())
    keep |= set(elig[np.argsort(-total, kind="stable")[:need]].tolist())
    for c, mask in zip(spec.constraints, d.match, strict=True):
        if c.min is None or c.min <= 0:
            continue
        m = np.flatnonzero(mask[elig])
        want = math.ceil(factor * spec.forms * c.min) + 5
        keep |= set(elig[m[np.argsort(-total[m], kind="stable")[:want]]].tolist())
    return np.array(sorted(_closure(d, keep)), dtype=int)


def _count_msg(d: _Data, n: int) -> Message:
    c = d.spec.constraints[n]
    mask = d.match[n][d.eligible]
    conds = [[cd.attribute, cd.value] for cd in c.conditions]
    if c.on == "count":
        have: float = int(mask.sum())
    else:
        have = float(d.points[d.eligible][mask].sum()) / POINT_SCALE
    forms = d.spec.forms
    unit = "items" if c.on == "count" else "points"
    if c.min is not None and c.min > 0 and c.max is not None:
        return Message("range_items", {"min": c.min, "max": c.max, "unit": unit, "have": have, "conditions": conds})
    if c.min is not None and c.min > 0:
        total = c.min * forms if d.spec.max_overlap == 0 else c.min
        code = "need_items" if c.on == "count" else "need_points"
        return Message(code, {"need": c.min, "forms": forms, "total": total, "have": have, "conditions": conds})
    return Message("max_items", {"max": c.max, "unit": unit, "have": have, "conditions": conds})


def requirements(d: _Data) -> dict[str, Message]:
    """Every requirement of the blueprint as a message with its numbers, keyed as the models guard them."""
    spec = d.spec
    forms = spec.forms
    out: dict[str, Message] = {}
    if spec.length is not None:
        out["length"] = Message(
            "length", {"min": spec.length[0], "max": spec.length[1], "forms": forms, "have": len(d.eligible)}
        )
    if spec.points is not None:
        out["points"] = Message("points_total", {"min": spec.points[0], "max": spec.points[1]})
    if spec.time is not None:
        out["time"] = Message("time_total", {"min": spec.time[0], "max": spec.time[1]})
    for n in range(len(spec.constraints)):
        out[f"c{n}"] = _count_msg(d, n)
    out["enemies"] = Message("enemies", {"sets": len(enemy_sets(d.bank, spec))})
    out["friends"] = Message("friends", {"sets": len(friend_sets(d.bank, spec))})
    rule = spec.passages
    out["passages"] = Message(
        "passages", {"sets": len(passage_sets(d.bank, spec)), "k_min": rule.k_min, "k_max": rule.k_max}
    )
    for iid in spec.include:
        out[f"include:{iid}"] = Message("include", {"item": iid})
    out["overlap"] = Message("overlap", {"forms": forms, "max_overlap": spec.max_overlap})
    out["exposure"] = Message("exposure", {"max_uses": spec.max_uses})
    return out


def _build(
    d: _Data,
    pool: np.ndarray,
    forms: int,
    *,
    assume: bool,
    objective: bool,
    fixed_include: bool = True,
    enemy_cap: int = 1,
) -> _Built:
    """The CP-SAT model over `pool` for `forms` forms; requirements guarded by assumptions when `assume`."""
    spec = d.spec
    m = cp_model.CpModel()
    pool_list = pool.tolist()
    x = [{i: m.new_bool_var(f"x{i}_{f}") for i in pool_list} for f in range(forms)]
    assumptions: dict[int, Message] = {}
    req = requirements(d) if assume else {}

    def guard(key: str) -> cp_model.IntVar | None:
        if not assume:
            return None
        lit = m.new_bool_var(key)
        assumptions[lit.Index()] = req[key]
        m.add_assumption(lit)
        return lit

    def add(ct: cp_model.Constraint, lit: cp_model.IntVar | None) -> None:
        if lit is not None:
            ct.only_enforce_if(lit)

    def rng(values: np.ndarray, lo: float | None, hi: float | None, lit: cp_model.IntVar | None, f: int) -> None:
        expr = sum(int(values[i]) * x[f][i] for i in pool_list if values[i] != 0)
        if lo is not None:
            add(m.add(expr >= math.ceil(lo - 1e-9)), lit)
        if hi is not None:
            add(m.add(expr <= math.floor(hi + 1e-9)), lit)

    ones = np.ones(len(d.bank), dtype=np.int64)
    if spec.length is not None:
        lit = guard("length")
        for f in range(forms):
            rng(ones, spec.length[0], spec.length[1], lit, f)
    if spec.points is not None:
        lit = guard("points")
        for f in range(forms):
            rng(d.points, spec.points[0] * POINT_SCALE, spec.points[1] * POINT_SCALE, lit, f)
    if spec.time is not None:
        lit = guard("time")
        for f in range(forms):
            rng(d.seconds, spec.time[0], spec.time[1], lit, f)
    for n, c in enumerate(spec.constraints):
        lit = guard(f"c{n}")
        vals = d.match[n].astype(np.int64) * (1 if c.on == "count" else d.points)
        scale = 1 if c.on == "count" else POINT_SCALE
        for f in range(forms):
            rng(vals, None if c.min is None else c.min * scale, None if c.max is None else c.max * scale, lit, f)
    in_pool = set(pool_list)
    enemies = [[d.index[i] for i in s if d.index[i] in in_pool] for s in enemy_sets(d.bank, spec)]
    enemies = [s for s in enemies if len(s) > 1]
    if enemies:
        lit = guard("enemies")
        for f in range(forms):
            for s in enemies:
                add(m.add(sum(x[f][i] for i in s) <= enemy_cap), lit)
    friends = [[d.index[i] for i in s] for s in friend_sets(d.bank, spec)]
    if friends:
        lit = guard("friends")
        for f in range(forms):
            for s in friends:
                inside = [i for i in s if i in in_pool]
                if len(inside) < len(s):  # a member is excluded or filtered out: the set cannot be used
                    for i in inside:
                        add(m.add(x[f][i] == 0), lit)
                    continue
                for i in s[1:]:
                    add(m.add(x[f][i] == x[f][s[0]]), lit)
    passages = {p: [d.index[i] for i in s] for p, s in passage_sets(d.bank, spec).items()}
    if passages:
        lit = guard("passages")
        for f in range(forms):
            for members in passages.values():
                inside = [i for i in members if i in in_pool]
                if not inside:
                    continue
                lo, hi = passage_bounds(len(members), spec)
                if len(inside) < lo:
                    for i in inside:
                        add(m.add(x[f][i] == 0), lit)
                    continue
                if lo == hi == len(members):
                    for i in inside[1:]:
                        add(m.add(x[f][i] == x[f][inside[0]]), lit)
                    continue
                used = m.new_bool_var("")
                total = sum(x[f][i] for i in inside)
                add(m.add(total >= lo * used), lit)
                add(m.add(total <= hi * used), lit)
    if fixed_include:
        for iid in spec.include:
            lit = guard(f"include:{iid}")
            for f in range(forms):
                add(m.add(x[f][d.index[iid]] == 1), lit)
    if forms > 1 and spec.max_overlap is not None:
        lit = guard("overlap")
        if spec.max_overlap == 0:
            for i in pool_list:
                add(m.add(sum(x[f][i] for f in range(forms)) <= 1), lit)
        else:
            for f in range(forms):
                for g in range(f + 1, forms):
                    both = []
                    for i in pool_list:
                        z = m.new_bool_var("")
                        m.add_bool_or([x[f][i].Not(), x[g][i].Not(), z])
                        both.append(z)
                    add(m.add(sum(both) <= spec.max_overlap), lit)
    if spec.max_uses is not None and forms > 1:
        lit = guard("exposure")
        for i in pool_list:
            left = spec.max_uses - d.bank.items[i].uses
            if left < forms:
                add(m.add(sum(x[f][i] for f in range(forms)) <= left), lit)

    y = None
    sense = 0
    scale = 1.0
    key_rows = None
    ob = spec.objective
    if objective and ob.kind != "none":
        if ob.kind == "difficulty_target":
            mean, sd = float(ob.mean_difficulty or 0.0), ob.sd_difficulty
            length = spec.length[0]  # type: ignore[index]
            dev = np.abs(d.diff - mean) if sd is None else (d.diff - mean) ** 2
            top = max(1e-9, float(np.abs(d.diff[pool] - mean).max()), float(dev[pool].max()))
            scale = COEF_SCALE / top
            cm = np.round((d.diff - mean) * scale).astype(np.int64)
            y = m.new_int_var(0, int(COEF_SCALE * length * 4), "y")
            for f in range(forms):
                s = sum(int(cm[i]) * x[f][i] for i in pool_list)
                dev_f = m.new_int_var(0, int(COEF_SCALE * length * 2), "")
                m.add(dev_f >= s)
                m.add(dev_f >= -s)
                total = dev_f
                if sd is not None:
                    cs = np.round(((d.diff - mean) ** 2 - sd * sd) * scale).astype(np.int64)
                    s2 = sum(int(cs[i]) * x[f][i] for i in pool_list)
                    dev2 = m.new_int_var(0, int(COEF_SCALE * length * 4), "")
                    m.add(dev2 >= s2)
                    m.add(dev2 >= -s2)
                    total = dev_f + dev2
                m.add(y >= total)
            sense = -1
            key_rows = np.round(d.diff * scale).astype(np.int64)[:, None]
        else:
            rows = d.rows
            top = max(1e-12, float(rows[pool].max()))
            scale = COEF_SCALE / top
            ci = np.round(rows * scale).astype(np.int64)
            length = spec.length[1] if spec.length else len(pool_list)
            ub = int(ci[pool].max(axis=0).sum() * length) + 1
            if ob.kind == "maximin_info":
                y = m.new_int_var(0, ub, "y")
                for f in range(forms):
                    for k in range(ci.shape[1]):
                        m.add(y <= sum(int(ci[i, k]) * x[f][i] for i in pool_list if ci[i, k]))
                m.maximize(y)
                sense = 1
            else:
                t = np.round(d.targets * scale).astype(np.int64)
                y = m.new_int_var(0, ub + int(np.abs(t).max()), "y")
                for f in range(forms):
                    for k in range(ci.shape[1]):
                        s = sum(int(ci[i, k]) * x[f][i] for i in pool_list if ci[i, k])
                        m.add(y >= s - int(t[k]))
                        m.add(y >= int(t[k]) - s)
                sense = -1
            key_rows = ci
        if sense < 0:
            m.minimize(y)
        if forms > 1 and key_rows is not None:
            # Forms are interchangeable: order them by a key so the search does not revisit permutations.
            w = key_rows[:, 0]
            keys = [sum(int(w[i]) * x[f][i] for i in pool_list) for f in range(forms)]
            for f in range(forms - 1):
                m.add(keys[f] >= keys[f + 1])
    return _Built(m, x, scale, assumptions, key_rows, y, sense)


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, t0: float, built: _Built, progress: ProgressFn | None, stage: str) -> None:
        super().__init__()
        self.t0, self.built, self.progress, self.stage = t0, built, progress, stage
        self.first: float | None = None

    def on_solution_callback(self) -> None:
        now = time.perf_counter() - self.t0
        if self.first is None:
            self.first = now
        if self.progress is not None and self.built.sense != 0:
            s = self.built.objective_scale
            try:
                self.progress(Progress(now, self.objective_value / s, self.best_objective_bound / s, self.stage))
            except Exception:
                # An exception escaping into the solver's thread aborts the whole process: a broken progress
                # reporter is logged and switched off, and the search goes on.
                log.exception("assembly progress callback failed; progress reporting is switched off")
                self.progress = None


def _solver(time_limit: float, workers: int, seed: int, gap: float, core: bool = False) -> cp_model.CpSolver:
    s = cp_model.CpSolver()
    if core:
        # Cores come from a single worker; with assumptions, presolve cannot use them, and only the full
        # linear relaxation sees counting conflicts (12 of 8 items) at once instead of by exhaustive search.
        s.parameters.linearization_level = 2
    s.parameters.max_time_in_seconds = max(0.05, time_limit)
    s.parameters.num_workers = workers
    s.parameters.random_seed = seed
    s.parameters.relative_gap_limit = gap
    return s


def _values(solver: cp_model.CpSolver, built: _Built) -> list[list[int]]:
    return [sorted(i for i, v in xf.items() if solver.boolean_value(v)) for xf in built.x]


def _sequential(
    d: _Data, pool: np.ndarray, deadline: float, workers: int, seed: int, t0: float, progress: ProgressFn | None
) -> list[list[int]] | None:
    """Warm start: one form at a time on the items not yet used (includes stay available)."""
    spec = d.spec
    single = replace(spec, forms=1)
    dd = replace(d, spec=single)
    left = set(pool.tolist())
    keep = {d.index[i] for i in spec.include}
    out: list[list[int]] = []
    for f in range(spec.forms):
        budget = (deadline - time.perf_counter()) / (spec.forms - f)
        if budget <= 0.05:
            return None
        sub = np.array(sorted(left), dtype=int)
        built = _build(dd, sub, 1, assume=False, objective=True)
        solver = _solver(min(budget, 1.5), workers, seed + f, 0.02)
        status = solver.solve(built.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        chosen = _values(solver, built)[0]
        out.append(chosen)
        if progress is not None:
            progress(Progress(time.perf_counter() - t0, float("nan"), float("nan"), f"warm start form {f + 1}"))
        if spec.max_overlap is not None:
            left -= set(chosen) - keep
    return out


def _form(d: _Data, idx: Sequence[int]) -> Form:
    idx = list(idx)
    items = [d.bank.items[i] for i in idx]
    mean = None
    if d.spec.objective.kind == "difficulty_target" and idx:
        mean = float(d.diff[idx].mean())
    return Form(
        item_ids=tuple(it.item_id for it in items),
        information=tuple(float(v) for v in d.info[idx].sum(axis=0)) if d.info.shape[1] else (),
        tcc=tuple(float(v) for v in d.tcc[idx].sum(axis=0)) if d.tcc.shape[1] else (),
        points=float(sum(it.points for it in items)),
        seconds=float(sum(it.seconds for it in items)),
        mean_difficulty=mean,
    )


def objective_value(d: _Data, forms: Sequence[Sequence[int]]) -> float | None:
    """The real (unscaled) objective of chosen forms, the quantity the solver optimises."""
    ob = d.spec.objective
    if ob.kind == "none":
        return None
    if ob.kind == "difficulty_target":
        mean, sd = float(ob.mean_difficulty or 0.0), ob.sd_difficulty
        vals = []
        for idx in forms:
            v = abs(float((d.diff[list(idx)] - mean).sum()))
            if sd is not None:
                v += abs(float(((d.diff[list(idx)] - mean) ** 2 - sd * sd).sum()))
            vals.append(v)
        return max(vals)
    sums = np.array([d.rows[list(idx)].sum(axis=0) for idx in forms])
    if ob.kind == "maximin_info":
        return float(sums.min())
    return float(np.abs(sums - d.targets[None, :]).max())


def bank_bound(d: _Data) -> float | None:
    """LP bound on the maximin objective over the whole eligible bank (valid for any pre-filtering).

    Averaging any feasible set of forms gives a feasible point of this aggregated LP with at least the same
    minimum, so its optimum bounds every set of forms from above.
    """
    if d.spec.objective.kind != "maximin_info":
        return None
    status, value = _aggregate_lp(d, None, objective=True)
    return value if status == 0 else None


def _aggregate_lp(d: _Data, enabled: set[str] | None, *, objective: bool) -> tuple[int, float | None]:
    """The average-of-forms LP over the whole eligible bank with the requirement groups in `enabled` (None = all).
    Returns (scipy status: 0 optimal, 2 infeasible, ...; maximin value when `objective`)."""
    spec = d.spec

    def on(key: str) -> bool:
        return enabled is None or key in enabled

    elig = d.eligible
    n, forms = len(elig), spec.forms
    if n == 0:
        return 2, None
    pos = {int(i): j for j, i in enumerate(elig)}
    cap = np.full(n, 1.0 if (spec.max_overlap == 0 and forms > 1 and on("overlap")) else float(forms))
    if spec.max_uses is not None and on("exposure"):
        cap = np.minimum(cap, [spec.max_uses - d.bank.items[i].uses for i in elig])
    lo_b = np.zeros(n)
    for iid in spec.include:
        if d.index[iid] in pos and on(f"include:{iid}"):
            lo_b[pos[d.index[iid]]] = forms
    rows, rhs = [], []

    def ub_row(coef: np.ndarray, bound: float, y_coef: float = 0.0) -> None:
        rows.append(np.append(coef, y_coef))
        rhs.append(bound)

    use_obj = objective and spec.objective.kind == "maximin_info"
    if use_obj:
        rows_k = d.rows[elig]
        for k in range(rows_k.shape[1]):
            ub_row(-rows_k[:, k] / forms, 0.0, 1.0)

    def range_rows(vals: np.ndarray, lo: float | None, hi: float | None) -> None:
        if hi is not None:
            ub_row(vals, hi * forms)
        if lo is not None:
            ub_row(-vals, -lo * forms)

    if spec.length is not None and on("length"):
        range_rows(np.ones(n), *spec.length)
    if spec.points is not None and on("points"):
        range_rows(d.points[elig] / POINT_SCALE, *spec.points)
    if spec.time is not None and on("time"):
        range_rows(d.seconds[elig].astype(float), *spec.time)
    for k, (c, mask) in enumerate(zip(spec.constraints, d.match, strict=True)):
        if on(f"c{k}"):
            vals = mask[elig].astype(float) * (1.0 if c.on == "count" else d.points[elig] / POINT_SCALE)
            range_rows(vals, c.min, c.max)
    if on("enemies"):
        for s in enemy_sets(d.bank, spec):
            v = np.zeros(n)
            for i in s:
                if d.index[i] in pos:
                    v[pos[d.index[i]]] = 1.0
            if v.sum() > 1:
                ub_row(v, float(forms))
    eq_rows = []
    all_or_none = spec.passages.k_min is None and spec.passages.k_max is None
    groups = [s for s in passage_sets(d.bank, spec).values()] if all_or_none and on("passages") else []
    groups += friend_sets(d.bank, spec) if on("friends") else []
    for s in groups:
        inside = [pos[d.index[i]] for i in s if d.index[i] in pos]
        if len(inside) < len(s):
            for j in inside:
                cap[j] = 0.0
            continue
        for j in inside[1:]:
            r = np.zeros(n + 1)
            r[inside[0]], r[j] = 1.0, -1.0
            eq_rows.append(r)
    if np.any(lo_b > cap):
        return 2, None
    cost = np.zeros(n + 1)
    cost[-1] = -1.0 if use_obj else 0.0
    res = linprog(
        cost,
        A_ub=sparse.csr_matrix(np.array(rows)) if rows else None,
        b_ub=np.array(rhs) if rows else None,
        A_eq=sparse.csr_matrix(np.array(eq_rows)) if eq_rows else None,
        b_eq=np.zeros(len(eq_rows)) if eq_rows else None,
        bounds=[*zip(lo_b, np.maximum(cap, lo_b), strict=True), (0.0, None if use_obj else 0.0)],
        method="highs",
    )
    return int(res.status), (float(-res.fun) if res.status == 0 and use_obj else None)


def _lp_core(d: _Data) -> list[Message] | None:
    """When even the LP relaxation is infeasible (a proof by HiGHS), the requirements it needs, found by deletion.

    Counting conflicts across parallel forms (48 points of a chapter for three disjoint forms, the bank has 43)
    are proven here in milliseconds, where the integer search can take long.
    """
    req = requirements(d)
    keys = list(req)
    if _aggregate_lp(d, set(keys), objective=False)[0] != 2:
        return None
    core = list(keys)
    for key in keys:
        trial = [k for k in core if k != key]
        if _aggregate_lp(d, set(trial), objective=False)[0] == 2:
            core = trial
    return [Message("conflict", {})] + [req[k] for k in core]


def _explain(d: _Data, deadline: float, seed: int) -> tuple[str, list[Message]]:
    """Solver-found conflicting requirements, shrunk by deletion while time allows."""
    built = _build(d, d.eligible, d.spec.forms, assume=True, objective=False)
    solver = _solver(max(0.5, deadline - time.perf_counter()), 1, seed, 0.0, core=True)
    status = solver.solve(built.model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return "feasible", []
    if status != cp_model.INFEASIBLE:
        return "unknown", []
    core = list(solver.sufficient_assumptions_for_infeasibility())
    lits = {lit: built.model.get_bool_var_from_proto_index(lit) for lit in built.assumptions}
    for lit in list(core):
        if len(core) <= 1 or time.perf_counter() > deadline:
            break
        trial = [c for c in core if c != lit]
        built.model.clear_assumptions()
        built.model.add_assumptions([lits[c] for c in trial])
        s = _solver(min(2.0, max(0.1, deadline - time.perf_counter())), 1, seed, 0.0, core=True)
        if s.solve(built.model) == cp_model.INFEASIBLE:
            smaller = list(s.sufficient_assumptions_for_infeasibility())
            core = smaller if smaller and set(smaller) <= set(trial) else trial
    return "infeasible", [Message("conflict", {})] + [built.assumptions[c] for c in core if c in built.assumptions]


def assemble(
    bank: Bank,
    spec: Spec,
    *,
    time_limit: float = 10.0,
    workers: int = 2,
    gap: float = 0.0,
    progress: ProgressFn | None = None,
    prefilter_pool: bool | None = None,
    warm_start: bool | None = None,
    seed: int = 0,
) -> Result:
    """Assemble `spec.forms` forms from the bank.

    Returns forms that passed the independent checker with the proven bound and gap, or the conflicting
    requirements (status `infeasible`), or `unknown` when time ran out before either. `gap` stops the search once
    the proven relative gap is below it. `prefilter_pool`/`warm_start` default to on for large problems.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    thetas = tuple(spec.objective.thetas)
    problems = validate(bank, spec)
    if problems:
        return Result("invalid", messages=problems, objective_kind=spec.objective.kind, thetas=thetas)
    try:
        d = _prepare(bank, spec)
    except ValueError as exc:
        return Result(
            "invalid",
            messages=[Message("invalid", {"field": "bank", "problem": str(exc)})],
            objective_kind=spec.objective.kind,
            thetas=thetas,
        )
    core = _lp_core(d)
    if core is not None:
        return Result(
            "infeasible",
            messages=core,
            seconds=time.perf_counter() - t0,
            objective_kind=spec.objective.kind,
            thetas=thetas,
        )
    big = len(d.eligible) * spec.forms > POOL_THRESHOLD
    use_pool = big if prefilter_pool is None else prefilter_pool
    pool = prefilter(d) if use_pool else d.eligible
    messages: list[Message] = []
    result = _optimise(d, pool, t0, deadline, workers, gap, progress, seed, warm_start)
    if result is None and len(pool) < len(d.eligible) and time.perf_counter() < deadline:
        messages.append(Message("pool_fallback", {"pool": len(pool), "bank": len(d.eligible)}))
        pool = d.eligible
        result = _optimise(d, pool, t0, deadline, workers, gap, progress, seed, False)
    if result is None:
        status, why = _explain(d, max(deadline, time.perf_counter() + 1.0), seed)
        if status == "feasible":  # the full bank is feasible but time ran out before a paper was found
            status = "unknown"
        if status == "unknown":
            why = [Message("unknown", {"seconds": round(time_limit, 1)})]
        return Result(
            status,  # type: ignore[arg-type]
            messages=messages + why,
            seconds=time.perf_counter() - t0,
            pool_size=len(pool),
            objective_kind=spec.objective.kind,
            thetas=thetas,
        )
    status, chosen, bound, first = result
    obj = objective_value(d, chosen)
    if obj is not None and bound is not None and status == "optimal":
        bound = max(bound, obj) if spec.objective.kind == "maximin_info" else min(bound, obj)
    forms = [_form(d, idx) for idx in chosen]
    violations = check_forms(bank, spec, [f.item_ids for f in forms])
    bb = bank_bound(d)
    res = Result(
        status=status,  # type: ignore[arg-type]
        forms=forms,
        objective=obj,
        bound=bound,
        bank_bound=bb,
        gap=relative_gap(obj, bound) if obj is not None and bound is not None else None,
        bank_gap=relative_gap(obj, bb) if obj is not None and bb is not None else None,
        seconds=time.perf_counter() - t0,
        first_feasible_seconds=first,
        pool_size=len(pool),
        messages=messages,
        violations=violations,
        objective_kind=spec.objective.kind,
        thetas=thetas,
    )
    return res


def _real_bound(solver: cp_model.CpSolver, built: _Built, items_per_form: int, forms: int = 1) -> float | None:
    """The solver's proven bound in real units, widened by the worst rounding of the integer coefficients."""
    if built.sense == 0:
        return None
    slack = items_per_form * forms * 0.5 / built.objective_scale
    raw = solver.best_objective_bound / built.objective_scale
    return (raw + slack) / forms if built.sense > 0 else max(0.0, raw - slack) / forms


def _units(d: _Data, pool: np.ndarray) -> list[list[int]]:
    """Pool items grouped into units that must travel together (a passage, a friend set) or singletons."""
    in_pool = set(pool.tolist())
    seen: set[int] = set()
    units: list[list[int]] = []
    sets = list(passage_sets(d.bank, d.spec).values()) + friend_sets(d.bank, d.spec)
    for s in sets:
        members = sorted({d.index[i] for i in s} & in_pool - seen)
        if members:
            seen |= set(members)
            units.append(members)
    units += [[i] for i in pool.tolist() if i not in seen]
    return units


def _partition(d: _Data, pool: np.ndarray, parts: int) -> list[set[int]]:
    """Split the pool into `parts` look-alike sub-pools: stratified by content, dealt in snake order by value.

    Each sub-pool then holds a small copy of the pool's content and information, so each form can be solved on
    its own sub-pool (small, fast models) and the forms come out disjoint and already close to each other.
    """
    score = _pool_score(d, pool)

    def stratum(unit: list[int]) -> tuple[str, ...]:
        it = d.bank.items[unit[0]]
        kp, level = ",".join(it.values("knowledge_point")), ",".join(it.values("level"))
        return (kp, level, it.type, "p" if len(unit) > 1 else "")

    units = sorted(_units(d, pool), key=lambda u: (stratum(u), -float(score[u].mean())))
    out: list[set[int]] = [set() for _ in range(parts)]
    for n, unit in enumerate(units):
        r, q = divmod(n, parts)
        out[q if r % 2 == 0 else parts - 1 - q].update(unit)
    return out


def _solve_one(d: _Data, sub: np.ndarray, seconds: float, workers: int, seed: int) -> list[int] | None:
    """One maximin form from `sub` (a sub-pool of its own)."""
    built = _build(replace(d, spec=replace(d.spec, forms=1)), sub, 1, assume=False, objective=True)
    solver = _solver(seconds, workers, seed, FIRST_GAP)
    if solver.solve(built.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return _values(solver, built)[0]


def _form_values(d: _Data, forms: Sequence[Sequence[int]]) -> list[float]:
    return [float(d.rows[list(f)].sum(axis=0).min()) for f in forms]


def _decompose(
    d: _Data,
    pool: np.ndarray,
    t0: float,
    deadline: float,
    workers: int,
    gap: float,
    progress: ProgressFn | None,
    seed: int,
) -> tuple[str, list[list[int]], float | None, float | None] | None:
    """Disjoint maximin forms by decomposition: deal the pool into look-alike sub-pools and solve each form on its
    own (first papers in seconds); prove a bound with the aggregate model (all forms' requirements summed, whose
    optimum / forms bounds every set of disjoint forms from the pool); then re-solve pairs of forms, the weakest with
    another one, over their items and the best unused ones, the aggregate optimum's first (large-neighbourhood
    search), until the proven gap is met or time is up.
    """
    spec = d.spec
    nf = spec.forms
    length = spec.length[1] if spec.length else len(pool)
    parts = _partition(d, pool, nf)
    forms: list[list[int]] = []
    for f, part in enumerate(parts):
        budget = min(PER_FORM_SECONDS, (deadline - time.perf_counter()) / (nf - f))
        chosen = _solve_one(d, np.array(sorted(part), dtype=int), budget, workers, seed + f) if budget > 0.02 else None
        if chosen is None:
            return None
        forms.append(chosen)
    first = time.perf_counter() - t0
    if progress is not None:
        progress(Progress(first, min(_form_values(d, forms)), float("nan"), "first forms"))

    def times(r: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if r is None else (r[0] * nf, r[1] * nf)

    k_of = spec.passages.k_min is not None or spec.passages.k_max is not None
    agg_spec = replace(
        spec,
        forms=1,
        length=times(spec.length),  # type: ignore[arg-type]
        points=times(spec.points),
        time=times(spec.time),
        constraints=tuple(
            replace(c, min=None if c.min is None else c.min * nf, max=None if c.max is None else c.max * nf)
            for c in spec.constraints
        ),
        passages=replace(spec.passages, k_min=0) if k_of else spec.passages,
    )
    built = _build(replace(d, spec=agg_spec), pool, 1, assume=False, objective=True, enemy_cap=nf)
    hint = {i for f in forms for i in f}
    for i, v in built.x[0].items():
        built.model.add_hint(v, i in hint)
    solver = _solver(BOUND_SHARE * (deadline - time.perf_counter()), workers, seed, BOUND_GAP)
    status = solver.solve(built.model)
    bound = None
    union: set[int] = set()
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = _real_bound(solver, built, length, nf)
        union = set(_values(solver, built)[0])
    forms = _improve(d, pool, forms, bound, union, t0, deadline, workers, gap, progress, seed)
    return "feasible", forms, bound, first


def _pool_score(d: _Data, pool: np.ndarray) -> np.ndarray:
    """Per item: its weakest normalised objective row plus a little of the mean (how much a maximin form wants it)."""
    norm = d.rows / np.maximum(d.rows[pool].max(axis=0, keepdims=True), 1e-12)
    return norm.min(axis=1) + 0.1 * norm.mean(axis=1)


def _improve(
    d: _Data,
    pool: np.ndarray,
    forms: list[list[int]],
    bound: float | None,
    favoured: set[int],
    t0: float,
    deadline: float,
    workers: int,
    gap: float,
    progress: ProgressFn | None,
    seed: int,
) -> list[list[int]]:
    """Large-neighbourhood search over pairs of forms: re-solve the weakest form together with another one (the
    richest, or a random one every other step) over their own items plus the most promising unused pool items,
    maximising the smaller of the two. Trading items between a rich and a poor form is what closes the gap; the
    single weakest form alone cannot take information that another form holds.
    """
    nf = len(forms)
    pair_spec = replace(d, spec=replace(d.spec, forms=2))
    score = _pool_score(d, pool)
    rng = np.random.default_rng(seed)
    step = 0
    while time.perf_counter() < deadline - 0.1 and nf > 1:
        values = _form_values(d, forms)
        if progress is not None:
            progress(Progress(time.perf_counter() - t0, min(values), bound or float("nan"), "improve"))
        if bound is not None and relative_gap(min(values), bound) <= max(gap, 1e-9):
            break
        order = np.argsort(values).tolist()
        f = order[0]
        g = order[-1] if step % 2 == 0 else int(rng.choice(order[1:]))
        step += 1
        used = {i for h, form in enumerate(forms) if h not in (f, g) for i in form}
        pair = set(forms[f]) | set(forms[g])
        free = np.array([i for i in pool.tolist() if i not in used and i not in pair], dtype=int)
        # Half the offer by overall value (the aggregate optimum's items first), half by information where the
        # weakest form is weakest: those are the items that can lift it.
        weak = int(np.argmin(d.rows[forms[f]].sum(axis=0)))
        by_value = free[np.lexsort((-score[free], [i not in favoured for i in free]))][: PAIR_EXTRA // 2]
        by_need = free[np.argsort(-d.rows[free, weak], kind="stable")][: PAIR_EXTRA // 2]
        sub = _closure(d, pair | set(by_value.tolist()) | set(by_need.tolist())) - used
        built = _build(pair_spec, np.array(sorted(sub), dtype=int), 2, assume=False, objective=True)
        assert built.key_rows is not None
        w = built.key_rows[:, 0]
        for x, idx in zip(built.x, sorted((forms[f], forms[g]), key=lambda idx: -int(w[idx].sum())), strict=True):
            chosen = set(idx)
            for i, v in x.items():
                built.model.add_hint(v, i in chosen)
        if bound is not None and built.y is not None:
            # Information beyond what the gap asks for is better left to the other forms; reaching the aim also
            # proves the pair optimal, so the re-solve ends early.
            aim = bound * (1.0 - 0.5 * gap)
            built.model.add(built.y <= math.ceil(aim * built.objective_scale))
        solver = _solver(min(PAIR_SECONDS, deadline - time.perf_counter()), workers, seed + step, 0.0)
        if solver.solve(built.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            continue
        new = _values(solver, built)
        before, after = sorted((values[f], values[g])), sorted(_form_values(d, new))
        if after > before:  # the smaller of the two first, then the larger
            forms[f], forms[g] = new
    return forms


def _optimise(
    d: _Data,
    pool: np.ndarray,
    t0: float,
    deadline: float,
    workers: int,
    gap: float,
    progress: ProgressFn | None,
    seed: int,
    warm_start: bool | None,
) -> tuple[str, list[list[int]], float | None, float | None] | None:
    spec = d.spec
    big = spec.forms > 1 and len(pool) * spec.forms > 4000
    use_warm = big if warm_start is None else warm_start
    length = spec.length[1] if spec.length else len(pool)
    if use_warm and spec.objective.kind == "maximin_info" and spec.max_overlap == 0 and not spec.include:
        out = _decompose(d, pool, t0, deadline, workers, gap, progress, seed)
        if out is not None:
            return out
    hint = None
    first = None
    if spec.forms > 1 and spec.max_overlap and spec.objective.kind != "none":
        # Disjoint forms also respect any overlap cap, and that model is far easier (no pair literals): its
        # answer is a good warm start for the capped model.
        disjoint = replace(d, spec=replace(spec, max_overlap=0))
        got = _optimise(
            disjoint, pool, t0, t0 + DISJOINT_SHARE * (deadline - t0), workers, gap, progress, seed, warm_start
        )
        if got is not None:
            hint, first = got[1], got[3]
    if (
        hint is None
        and use_warm
        and spec.forms > 1
        and spec.objective.kind != "none"
        and time.perf_counter() < deadline
    ):
        hint = _sequential(d, pool, t0 + 0.5 * (deadline - t0), workers, seed, t0, progress)
        if hint is not None:
            first = time.perf_counter() - t0
    built = _build(d, pool, spec.forms, assume=False, objective=True)
    if hint is not None and built.key_rows is not None:
        w = built.key_rows[:, 0]
        hint = sorted(hint, key=lambda idx: -int(w[idx].sum()))
        for f, idx in enumerate(hint):
            chosen = set(idx)
            for i, v in built.x[f].items():
                built.model.add_hint(v, i in chosen)
    watcher = _Watcher(t0, built, progress, "solve")
    solver = _solver(deadline - time.perf_counter(), workers, seed, gap)
    status = solver.solve(built.model, watcher)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = _values(solver, built)
        name = "optimal" if status == cp_model.OPTIMAL and (gap == 0.0 or built.sense == 0) else "feasible"
        first = first if first is not None else watcher.first
        if hint is not None and status != cp_model.OPTIMAL:
            # keep the warm start when the search ended on something worse (it is valid for this model too)
            mine, theirs = objective_value(d, chosen), objective_value(d, hint)
            if mine is not None and theirs is not None and (theirs - mine) * built.sense > 0:
                chosen = [sorted(h) for h in hint]
        return name, chosen, _real_bound(solver, built, length), first
    if hint is not None:
        # The solver found nothing better in time: the warm start itself is a valid answer (checked below).
        return "feasible", [sorted(h) for h in hint], None, first
    return None


def line_supply(bank: Bank, spec: Spec) -> list[float]:
    """For each blueprint line, what the bank offers: matching items (count lines) or their points (points lines),
    excluded and over-exposed items left out. The editor shows it next to each line."""
    excluded = set(spec.exclude)
    usable = [
        it for it in bank.items if it.item_id not in excluded and (spec.max_uses is None or it.uses < spec.max_uses)
    ]
    out: list[float] = []
    for c in spec.constraints:
        hits = [it for it in usable if all(cd.matches(it, cd.attribute in spec.hierarchical) for cd in c.conditions)]
        out.append(float(len(hits)) if c.on == "count" else float(sum(it.points for it in hits)))
    return out
