"""The independent checker catches every kind of violation."""

from __future__ import annotations

from itembank.assembly.check import check_forms
from itembank.assembly.model import Bank, Condition, Constraint, Item, Spec


def bank() -> Bank:
    items = []
    for i in range(8):
        attrs: dict[str, tuple[str, ...]] = {"knowledge_point": (f"3.{i % 2 + 1}",), "level": ("hard",)}
        if i in (0, 1):
            attrs["enemy_group"] = ("E",)
        if i in (2, 3, 4):
            attrs["passage_id"] = ("P",)
        items.append(Item(item_id=f"I{i}", a=1.0, b=0.0, points=2.0, seconds=60.0, attributes=attrs, uses=i))
    return Bank(tuple(items))


def rules(forms: list[list[str]], **kw: object) -> set[str]:
    spec = Spec(forms=len(forms), **kw)  # type: ignore[arg-type]
    return {str(m.params["rule"]) for m in check_forms(bank(), spec, forms)}


def test_clean_forms_pass() -> None:
    assert rules([["I0", "I5"], ["I1", "I6"]], length=(2, 2)) == set()


def test_each_rule_is_caught() -> None:
    assert rules([["I0", "I1"]]) == {"enemies"}
    assert rules([["I2", "I5"]]) == {"passage"}
    assert rules([["I5", "I6"]], length=(3, 3)) == {"length"}
    assert rules([["I5", "I6"]], points=(5, 6)) == {"points"}
    assert rules([["I5", "I6"]], time=(0, 100)) == {"time"}
    assert rules([["I5", "I5"]]) == {"duplicate"}
    assert rules([["X"]]) == {"unknown_item"}
    assert rules([["I5"]], include=("I6",)) == {"include"}
    assert rules([["I5"]], exclude=("I5",)) == {"exclude"}
    assert rules([["I5", "I6"], ["I5", "I7"]], max_overlap=0) == {"overlap"}
    assert rules([["I5"]], max_uses=5) == {"exposure"}
    assert rules([["I5", "I7"]], friends=(("I5", "I6"),)) == {"friends"}
    hier = (Constraint((Condition("knowledge_point", "3"),), min=3),)
    assert rules([["I5", "I7"]], constraints=hier) == {"constraint"}
    pts = (Constraint((Condition("level", "hard"),), max=3, on="points"),)
    assert rules([["I5", "I7"]], constraints=pts) == {"constraint"}
