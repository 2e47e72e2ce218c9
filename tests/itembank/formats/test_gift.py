"""GIFT reader against examples from Moodle's GIFT documentation."""

from itembank.formats.gift import read_gift

SAMPLE = r"""// examples adapted from docs.moodle.org/en/GIFT_format
$CATEGORY: $course$/数学/函数

::Q1:: Who's buried in Grant's tomb?{~Grant ~Jefferson =no one}

::Q2:: Grant is buried in Grant's tomb.{F}

::Q3:: Two plus two equals \{what\}?{=four =4}

::Q4:: What is a value of pi (3 decimal places)? {#3.141:0.0005}

::Q5:: What two people are entombed in Grant's tomb? {~%-100%No one ~%50%Grant ~%50%Grant's wife}

::Q6:: Write about your summer.{}

::Q7:: Match {=cat -> meow =dog -> woof}

::Q8:: Mahatma Gandhi's birthday is an {~important =famous} holiday.

::Q9:: Number between 1 and 5 {#1..5}
"""


def test_types_keys_and_rejections() -> None:
    res = read_gift(SAMPLE.encode())
    by_id = {d.source_id: d for d in res.drafts}
    assert by_id["Q1"].type == "single_choice" and by_id["Q1"].key == "C"
    assert by_id["Q2"].key is False
    assert by_id["Q3"].stem == "Two plus two equals {what}?"
    assert by_id["Q3"].key[0]["accepted"] == ["four", "4"]
    assert by_id["Q4"].key == {"value": 3.141, "tolerance": 0.0005, "units": None}
    assert by_id["Q5"].type == "multiple_choice" and by_id["Q5"].key == ["B", "C"]
    assert by_id["Q6"].type == "essay"
    assert by_id["Q9"].key == {"value": 3.0, "tolerance": 2.0, "units": None}
    assert by_id["Q1"].knowledge_points == ["数学/函数"]
    reasons = {r["item"]: r["reason"] for r in res.rejected}
    assert set(reasons) == {"Q7", "Q8"} and "matching" in reasons["Q7"] and "missing-word" in reasons["Q8"]
