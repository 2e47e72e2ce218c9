"""Blueprint dataclasses: the bank, the spec (what a paper must be) and the result of assembly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ObjectiveKind = Literal["maximin_info", "info_target", "tcc_match", "difficulty_target", "none"]
Status = Literal["optimal", "feasible", "infeasible", "unknown", "invalid"]


@dataclass(frozen=True)
class Item:
    """One bank item. `attributes` maps a column name to its values (multi-valued columns hold several)."""

    item_id: str
    a: float | None = None
    b: float | None = None
    c: float = 0.0
    type: str = ""
    points: float = 1.0
    seconds: float = 0.0
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    difficulty: float | None = None  # classical difficulty (level or p-value) when there is no IRT
    uses: int = 0  # past administrations, from the bank's usage history

    @property
    def has_irt(self) -> bool:
        """True when the item carries calibrated IRT parameters."""
        return self.a is not None and self.b is not None

    def values(self, attribute: str) -> tuple[str, ...]:
        """All values of an attribute (built-ins `type` and `item_id` included)."""
        if attribute == "type":
            return (self.type,)
        if attribute == "item_id":
            return (self.item_id,)
        return tuple(self.attributes.get(attribute, ()))


@dataclass(frozen=True)
class Bank:
    """An ordered collection of items."""

    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for it in self.items:
            if it.item_id in seen:
                raise ValueError(f"duplicate item_id {it.item_id!r}")
            seen.add(it.item_id)

    def __len__(self) -> int:
        return len(self.items)

    def index(self) -> dict[str, int]:
        """item_id -> position."""
        return {it.item_id: i for i, it in enumerate(self.items)}


@dataclass(frozen=True)
class Condition:
    """`attribute` has `value`. Hierarchical attributes (knowledge points `3.2`) also match descendants `3.2.1`."""

    attribute: str
    value: str

    def matches(self, item: Item, hierarchical: bool) -> bool:
        """Whether the item carries the value (or, when hierarchical, a descendant of it)."""
        for v in item.values(self.attribute):
            if v == self.value or (hierarchical and v.startswith(self.value + ".")):
                return True
        return False


@dataclass(frozen=True)
class Constraint:
    """Per form: the count (or points) of items meeting all conditions lies in [min, max]."""

    conditions: tuple[Condition, ...]
    min: float | None = None
    max: float | None = None
    on: Literal["count", "points"] = "count"
    name: str = ""

    def label(self) -> str:
        """Human-readable selector, e.g. `knowledge_point=3.2, level=hard`."""
        return self.name or ", ".join(f"{c.attribute}={c.value}" for c in self.conditions)


@dataclass(frozen=True)
class PassageRule:
    """Items sharing a passage: all-or-none (k_min = k_max = None) or between k_min and k_max of the set."""

    k_min: int | None = None
    k_max: int | None = None


@dataclass(frozen=True)
class Objective:
    """What to optimise. `targets` are per-theta information (info_target) or expected scores (tcc_match)."""

    kind: ObjectiveKind = "maximin_info"
    thetas: tuple[float, ...] = (-1.0, 0.0, 1.0)
    targets: tuple[float, ...] = ()
    mean_difficulty: float | None = None
    sd_difficulty: float | None = None


@dataclass(frozen=True)
class Spec:
    """A blueprint: what every form must be and how the forms relate."""

    forms: int = 1
    length: tuple[int, int] | None = None  # (min, max) items
    points: tuple[float, float] | None = None
    time: tuple[float, float] | None = None  # seconds
    constraints: tuple[Constraint, ...] = ()
    objective: Objective = field(default_factory=Objective)
    max_overlap: int | None = 0  # shared items between any two forms; None = unlimited
    enemies: tuple[tuple[str, ...], ...] = ()
    friends: tuple[tuple[str, ...], ...] = ()
    enemy_attribute: str = "enemy_group"
    friend_attribute: str = "friend_group"
    passage_attribute: str = "passage_id"
    passages: PassageRule = field(default_factory=PassageRule)
    include: tuple[str, ...] = ()  # in every form (anchor items)
    exclude: tuple[str, ...] = ()
    max_uses: int | None = None  # exposure: past uses + uses in these forms <= max_uses
    hierarchical: tuple[str, ...] = ("knowledge_point",)


@dataclass(frozen=True)
class Message:
    """A teacher-readable finding: a stable code plus its numbers; render with `explain.render`."""

    code: str
    params: Mapping[str, object]


@dataclass(frozen=True)
class Form:
    """One assembled form with its psychometric profile at the spec's thetas."""

    item_ids: tuple[str, ...]
    information: tuple[float, ...]
    tcc: tuple[float, ...]
    points: float
    seconds: float
    mean_difficulty: float | None = None


@dataclass(frozen=True)
class Progress:
    """Reported on every improving solution: seconds since start, objective, proven bound."""

    seconds: float
    objective: float
    bound: float
    stage: str = "solve"


@dataclass
class Result:
    """Assembly outcome. `bound` is proven by the solver over the items it considered (`pool_size`);
    `bank_bound` is an LP bound over the whole bank, valid even when items were pre-filtered."""

    status: Status
    forms: list[Form] = field(default_factory=list)
    objective: float | None = None
    bound: float | None = None
    bank_bound: float | None = None
    gap: float | None = None
    bank_gap: float | None = None
    seconds: float = 0.0
    first_feasible_seconds: float | None = None
    pool_size: int = 0
    messages: list[Message] = field(default_factory=list)
    violations: list[Message] = field(default_factory=list)
    objective_kind: str = "maximin_info"
    thetas: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        """Forms were found and passed the independent check."""
        return self.status in ("optimal", "feasible") and bool(self.forms) and not self.violations


def relative_gap(objective: float, bound: float) -> float:
    """|bound - objective| / max(|objective|, tiny): the proven distance to optimal."""
    return float(abs(bound - objective) / max(abs(objective), 1e-9))


def as_array(values: object) -> np.ndarray:
    """Float array helper used by the solver and the checker."""
    return np.asarray(values, dtype=float)
