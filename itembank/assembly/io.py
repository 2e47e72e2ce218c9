"""File mode: BANK.csv and SPEC.yaml in (DESIGN.md formats), FORMS.json out. Errors name row, column and value."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from itembank.assembly.explain import both
from itembank.assembly.model import Bank, Condition, Constraint, Item, Objective, PassageRule, Result, Spec

BUILTIN_COLUMNS = ("item_id", "a", "b", "c", "type", "points", "seconds", "difficulty", "uses")
OBJECTIVES = ("maximin_info", "info_target", "tcc_match", "difficulty_target", "none")
SPEC_KEYS = {
    "forms", "length", "points", "time", "constraints", "objective", "thetas", "targets", "max_overlap", "enemies",
    "friends", "passages", "include", "exclude", "max_uses", "time_limit", "gap", "hierarchical",
}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    where: str  # "row 7" or "constraints[2]"
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}, {self.field}={self.value!r}: {self.reason}"


class AssemblyInputError(ValueError):
    """Raised with every problem found, so a teacher can fix a file in one pass."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source, self.problems = source, problems
        lines = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}{more}")


def _float(text: str, where: str, column: str, problems: list[Problem], *, finite: bool = True) -> float | None:
    if text.strip() == "":
        return None
    try:
        v = float(text)
    except ValueError:
        problems.append(Problem(where, column, text, "not a number"))
        return None
    if finite and not math.isfinite(v):
        problems.append(Problem(where, column, text, "not a finite number"))
        return None
    return v


def parse_bank(text: str, source: str = "BANK.csv") -> Bank:
    """Items from CSV text: `item_id,a,b,c,type,points,seconds` plus attribute columns (multi-valued with `|`)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    problems: list[Problem] = []
    if not reader.fieldnames or "item_id" not in reader.fieldnames:
        raise AssemblyInputError(source, [Problem("header", "item_id", ",".join(reader.fieldnames or []), "missing")])
    attr_cols = [c for c in reader.fieldnames if c not in BUILTIN_COLUMNS]
    items: list[Item] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(reader, start=2):  # row 1 is the header
        where = f"row {n}"
        if None in row:
            problems.append(Problem(where, "(extra)", ",".join(row[None]), "more cells than header columns"))  # type: ignore[index]
            continue
        iid = (row.get("item_id") or "").strip()
        if not iid:
            problems.append(Problem(where, "item_id", "", "empty"))
            continue
        if iid in seen:
            problems.append(Problem(where, "item_id", iid, f"duplicate of row {seen[iid]}"))
            continue
        seen[iid] = n
        vals = {k: _float(row.get(k) or "", where, k, problems) for k in ("a", "b", "c", "points", "seconds")}
        diff = _float(row.get("difficulty") or "", where, "difficulty", problems)
        uses = _float(row.get("uses") or "", where, "uses", problems)
        a, b = vals["a"], vals["b"]
        if (a is None) != (b is None):
            problems.append(Problem(where, "a" if a is None else "b", "", "give both a and b, or neither"))
        if a is not None and a <= 0:
            problems.append(Problem(where, "a", row["a"], "discrimination must be positive"))
        c = vals["c"] or 0.0
        if not 0.0 <= c < 1.0:
            problems.append(Problem(where, "c", row["c"], "guessing must be in [0, 1)"))
        points = 1.0 if vals["points"] is None else vals["points"]
        if points < 0:
            problems.append(Problem(where, "points", row["points"], "must not be negative"))
        seconds = vals["seconds"] or 0.0
        if seconds < 0:
            problems.append(Problem(where, "seconds", row["seconds"], "must not be negative"))
        if uses is not None and (uses < 0 or uses != int(uses)):
            problems.append(Problem(where, "uses", row["uses"], "must be a whole number >= 0"))
        attrs = {
            col: tuple(v.strip() for v in (row.get(col) or "").split("|") if v.strip())
            for col in attr_cols
            if (row.get(col) or "").strip()
        }
        items.append(
            Item(
                item_id=iid,
                a=a,
                b=b,
                c=c,
                type=(row.get("type") or "").strip(),
                points=points,
                seconds=seconds,
                attributes=attrs,
                difficulty=diff,
                uses=int(uses or 0),
            )
        )
    if not items and not problems:
        problems.append(Problem("file", "rows", "0", "the bank has no items"))
    if problems:
        raise AssemblyInputError(source, problems)
    return Bank(tuple(items))


def load_bank(path: str | Path) -> Bank:
    """Read BANK.csv (UTF-8, with or without BOM)."""
    p = Path(path)
    return parse_bank(p.read_text(encoding="utf-8-sig"), p.name)


def _range(v: Any, where: str, problems: list[Problem], integer: bool = False) -> tuple[float, float] | None:
    if v is None:
        return None
    lo = hi = None
    if isinstance(v, bool):
        pass
    elif isinstance(v, int | float):
        lo = hi = v
    elif isinstance(v, list | tuple) and len(v) == 2:
        lo, hi = v
    elif isinstance(v, Mapping):
        lo, hi = v.get("min", 0), v.get("max")
    ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lo, hi))
    if not ok or (integer and any(float(x) != int(x) for x in (lo, hi))):  # type: ignore[arg-type]
        kind = "a whole number" if integer else "a number"
        problems.append(Problem(where, where, repr(v), f"expected {kind}, [min, max] or {{min, max}}"))
        return None
    if lo > hi:  # type: ignore[operator]
        problems.append(Problem(where, where, repr(v), "min is greater than max"))
        return None
    return (int(lo), int(hi)) if integer else (float(lo), float(hi))  # type: ignore[arg-type]


def _num(v: Any, where: str, fld: str, problems: list[Problem]) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        problems.append(Problem(where, fld, repr(v), "expected a number"))
        return None
    return float(v)


def _ids(v: Any, fld: str, problems: list[Problem]) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        problems.append(Problem(fld, fld, repr(v), "expected a list of item ids"))
        return ()
    return tuple(str(x) for x in v)


def _sets(v: Any, fld: str, problems: list[Problem]) -> tuple[tuple[str, ...], ...]:
    if v is None or isinstance(v, bool):  # `enemies: true` = honour the bank's enemy_group column (always done)
        return ()
    if not isinstance(v, list) or not all(isinstance(s, list) for s in v):
        problems.append(Problem(fld, fld, repr(v), "expected a list of lists of item ids (or true)"))
        return ()
    return tuple(tuple(str(x) for x in s) for s in v)


def parse_spec(data: Any, source: str = "SPEC.yaml") -> tuple[Spec, dict[str, float]]:
    """A Spec from parsed YAML, plus solver options (`time_limit`, `gap`)."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise AssemblyInputError(source, [Problem("file", "(top)", type(data).__name__, "expected a mapping")])
    for k in data:
        if k not in SPEC_KEYS:
            problems.append(Problem("top level", str(k), str(data[k])[:40], f"unknown key; known: {sorted(SPEC_KEYS)}"))
    forms = data.get("forms", 1)
    if isinstance(forms, bool) or not isinstance(forms, int) or forms < 1:
        problems.append(Problem("forms", "forms", repr(forms), "expected a whole number >= 1"))
        forms = 1
    length = _range(data.get("length"), "length", problems, integer=True)
    points = _range(data.get("points"), "points", problems)
    time_r = _range(data.get("time"), "time", problems)
    constraints = []
    raw_c = data.get("constraints") or []
    if not isinstance(raw_c, list):
        problems.append(Problem("constraints", "constraints", repr(raw_c)[:40], "expected a list"))
        raw_c = []
    for n, c in enumerate(raw_c, start=1):
        where = f"constraints[{n}]"
        if not isinstance(c, Mapping) or "attribute" not in c or "value" not in c:
            problems.append(Problem(where, "attribute/value", repr(c)[:60], "each line needs attribute and value"))
            continue
        unknown = set(c) - {"attribute", "value", "min", "max", "exactly", "on", "where", "name"}
        for k in sorted(unknown):
            problems.append(Problem(where, str(k), repr(c[k]), "unknown key"))
        conds = [Condition(str(c["attribute"]), str(c["value"]))]
        extra = c.get("where") or {}
        if not isinstance(extra, Mapping):
            problems.append(Problem(where, "where", repr(extra), "expected a mapping attribute: value"))
            extra = {}
        conds += [Condition(str(k), str(v)) for k, v in extra.items()]
        lo, hi = _num(c.get("min"), where, "min", problems), _num(c.get("max"), where, "max", problems)
        exact = _num(c.get("exactly"), where, "exactly", problems)
        if exact is not None:
            lo = hi = exact
        on = c.get("on", "count")
        if on not in ("count", "points"):
            problems.append(Problem(where, "on", repr(on), "expected count or points"))
            on = "count"
        if lo is None and hi is None:
            problems.append(Problem(where, "min/max", "", "give min, max or exactly"))
        elif lo is not None and hi is not None and lo > hi:
            problems.append(Problem(where, "min", f"{lo:g}", f"greater than max {hi:g}"))
        constraints.append(Constraint(tuple(conds), lo, hi, on, str(c.get("name", ""))))
    ob_raw = data.get("objective", "maximin_info")
    ob_map: Mapping[str, Any] = ob_raw if isinstance(ob_raw, Mapping) else {"kind": ob_raw}
    kind = ob_map.get("kind", ob_map.get("type", "maximin_info"))
    if kind not in OBJECTIVES:
        problems.append(Problem("objective", "kind", repr(kind), f"expected one of {OBJECTIVES}"))
        kind = "none"
    thetas = ob_map.get("thetas", data.get("thetas", [-1.0, 0.0, 1.0]))
    targets = ob_map.get("targets", data.get("targets", []))
    for fld, seq in (("thetas", thetas), ("targets", targets)):
        if not isinstance(seq, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in seq):
            problems.append(Problem("objective", fld, repr(seq), "expected a list of numbers"))
    mean = _num(ob_map.get("mean"), "objective", "mean", problems)
    sd = _num(ob_map.get("sd"), "objective", "sd", problems)
    overlap = data.get("max_overlap", 0)
    if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0):
        problems.append(Problem("max_overlap", "max_overlap", repr(overlap), "expected a whole number >= 0 or null"))
        overlap = 0
    pas = data.get("passages", "all")
    rule = PassageRule()
    if isinstance(pas, Mapping):
        k_min, k_max = pas.get("k_min", pas.get("k")), pas.get("k_max", pas.get("k"))
        for fld, v in (("k_min", k_min), ("k_max", k_max)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                problems.append(Problem("passages", fld, repr(v), "expected a whole number >= 1"))
        rule = PassageRule(k_min, k_max)
    elif pas != "all":
        problems.append(Problem("passages", "passages", repr(pas), "expected 'all' or {k_min, k_max}"))
    max_uses = data.get("max_uses")
    if max_uses is not None and (isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1):
        problems.append(Problem("max_uses", "max_uses", repr(max_uses), "expected a whole number >= 1"))
        max_uses = None
    options = {}
    for k, default in (("time_limit", 10.0), ("gap", 0.0)):
        v = _num(data.get(k, default), k, k, problems)
        options[k] = default if v is None or v < 0 else v
    hier = data.get("hierarchical", ["knowledge_point"])
    if problems:
        raise AssemblyInputError(source, problems)
    spec = Spec(
        forms=forms,
        length=length,  # type: ignore[arg-type]
        points=points,
        time=time_r,
        constraints=tuple(constraints),
        objective=Objective(kind, tuple(float(t) for t in thetas), tuple(float(t) for t in targets), mean, sd),
        max_overlap=overlap,
        enemies=_sets(data.get("enemies"), "enemies", problems),
        friends=_sets(data.get("friends"), "friends", problems),
        passages=rule,
        include=_ids(data.get("include"), "include", problems),
        exclude=_ids(data.get("exclude"), "exclude", problems),
        max_uses=max_uses,
        hierarchical=tuple(str(h) for h in hier) if isinstance(hier, list) else ("knowledge_point",),
    )
    if problems:
        raise AssemblyInputError(source, problems)
    return spec, options


def load_spec(path: str | Path) -> tuple[Spec, dict[str, float]]:
    """Read SPEC.yaml."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise AssemblyInputError(p.name, [Problem(where, "yaml", "", str(exc).splitlines()[0])]) from exc
    return parse_spec(data, p.name)


def result_to_json(result: Result) -> dict[str, Any]:
    """FORMS.json: item ids per form, objective, bound, status, information/TCC at the thetas, messages (zh + en)."""
    return {
        "status": result.status,
        "objective_kind": result.objective_kind,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "bank_bound": result.bank_bound,
        "bank_gap": result.bank_gap,
        "seconds": round(result.seconds, 3),
        "first_feasible_seconds": result.first_feasible_seconds,
        "pool_size": result.pool_size,
        "thetas": list(result.thetas),
        "forms": [
            {
                "form": n,
                "items": list(f.item_ids),
                "information": list(f.information),
                "tcc": list(f.tcc),
                "points": f.points,
                "seconds": f.seconds,
                "mean_difficulty": f.mean_difficulty,
            }
            for n, f in enumerate(result.forms, start=1)
        ],
        "messages": [{"code": m.code, "params": dict(m.params)} for m in result.messages],
        "explanation": both(result.messages),
        "violations": [dict(v.params) for v in result.violations],
    }
