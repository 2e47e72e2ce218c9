"""BANK.csv / SPEC.yaml parsing: good files load, bad ones name row, column and value."""

from __future__ import annotations

import pytest

from itembank.assembly.io import AssemblyInputError, parse_bank, parse_spec

GOOD = """item_id,a,b,c,type,points,seconds,knowledge_point,level,enemy_group,passage_id
Q1,1.2,-0.5,0.2,single_choice,2,60,3.2|4.1,hard,E1,
Q2,0.8,0.3,,fill_blank,3,90,3.1,medium,,P1
Q3,,,,true_false,1,30,3.1,easy,,
"""


def test_bank_loads_multi_valued_attributes_and_missing_irt() -> None:
    bank = parse_bank(GOOD)
    assert len(bank) == 3
    q1 = bank.items[0]
    assert q1.values("knowledge_point") == ("3.2", "4.1") and q1.c == 0.2 and q1.points == 2
    assert not bank.items[2].has_irt and bank.items[2].values("level") == ("easy",)


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        ("Q4,abc,0,0,single_choice,1,30,1.1,easy,,", "a", "abc"),
        ("Q4,-1,0,0,single_choice,1,30,1.1,easy,,", "a", "-1"),
        ("Q4,1,0,1.5,single_choice,1,30,1.1,easy,,", "c", "1.5"),
        ("Q1,1,0,0,single_choice,1,30,1.1,easy,,", "item_id", "Q1"),
        ("Q4,1,,0,single_choice,1,30,1.1,easy,,", "b", ""),
        ("Q4,1,0,0,single_choice,-2,30,1.1,easy,,", "points", "-2"),
    ],
)
def test_bad_bank_rows_are_named(row: str, column: str, value: str) -> None:
    with pytest.raises(AssemblyInputError) as err:
        parse_bank(GOOD + row + "\n")
    p = err.value.problems[0]
    assert (p.where, p.field, p.value) == ("row 5", column, value)


def test_missing_item_id_column() -> None:
    with pytest.raises(AssemblyInputError, match="item_id"):
        parse_bank("id,a,b\n1,1,0\n")


def test_spec_loads() -> None:
    spec, opts = parse_spec(
        {
            "forms": 2,
            "length": 30,
            "points": [90, 110],
            "objective": {"kind": "maximin_info", "thetas": [-1, 0, 1]},
            "constraints": [
                {"attribute": "knowledge_point", "value": 3.2, "min": 2, "where": {"level": "hard"}},
                {"attribute": "type", "value": "essay", "exactly": 1},
                {"attribute": "level", "value": "hard", "max": 20, "on": "points"},
            ],
            "max_overlap": 5,
            "passages": {"k_min": 2, "k_max": 3},
            "enemies": True,
            "time_limit": 3,
        }
    )
    assert spec.forms == 2 and spec.length == (30, 30) and spec.points == (90.0, 110.0)
    assert spec.constraints[0].conditions[1].value == "hard" and spec.constraints[0].conditions[0].value == "3.2"
    assert spec.constraints[1].min == spec.constraints[1].max == 1
    assert spec.constraints[2].on == "points" and spec.passages.k_min == 2
    assert opts["time_limit"] == 3


@pytest.mark.parametrize(
    ("data", "where", "field"),
    [
        (
            {"length": 10, "constraints": [{"attribute": "level", "value": "hard", "min": 5, "max": 2}]},
            "constraints[1]",
            "min",
        ),
        ({"length": 10, "constraints": [{"attribute": "level"}]}, "constraints[1]", "attribute/value"),
        ({"length": 10, "objective": "best"}, "objective", "kind"),
        ({"length": [10, 5]}, "length", "length"),
        ({"length": 10, "forms": 0}, "forms", "forms"),
        ({"length": 10, "colour": "red"}, "top level", "colour"),
        ({"length": 10, "max_overlap": -1}, "max_overlap", "max_overlap"),
    ],
)
def test_bad_spec_names_the_field(data: dict, where: str, field: str) -> None:
    with pytest.raises(AssemblyInputError) as err:
        parse_spec(data)
    assert (err.value.problems[0].where, err.value.problems[0].field) == (where, field)
