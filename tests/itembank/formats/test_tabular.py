"""JSON/CSV template round trips and row-level rejection."""

import io

from itembank.formats.model import ItemDraft
from itembank.formats.tabular import read_csv, read_json, write_csv, write_json

DRAFTS = [
    ItemDraft(
        source_id="q1",
        type="multiple_choice",
        stem="选出偶数",
        options=[{"key": "A", "text": "2"}, {"key": "B", "text": "3"}, {"key": "C", "text": "4"}],
        key=["A", "C"],
        points=2.0,
        knowledge_points=["数学/数与代数/整数"],
        tags=["期中"],
    ),
    ItemDraft(
        source_id="q2",
        type="numerical",
        stem="\\(\\pi\\) to two places",
        key={"value": 3.14, "tolerance": 0.005, "units": None},
        seconds=60,
    ),
]


def _fields(ds: list[ItemDraft]) -> list[tuple]:
    return [
        (d.source_id, d.type, d.stem, d.options, d.key, d.points, d.seconds, d.knowledge_points, d.tags) for d in ds
    ]


def test_json_round_trip() -> None:
    assert _fields(read_json(write_json(DRAFTS)).drafts) == _fields(DRAFTS)


def test_csv_round_trip() -> None:
    assert _fields(read_csv(write_csv(DRAFTS)).drafts) == _fields(DRAFTS)


def test_csv_bad_row_rejected_with_row_and_column() -> None:
    data = b"source_id,type,stem,key\nok,essay,Write,\nbad,single_choice,S,{oops\nt,hotspot,S,\n"
    res = read_csv(data)
    assert [d.source_id for d in res.drafts] == ["ok"]
    assert "row 3" in res.rejected[0]["reason"] and "column key" in res.rejected[0]["reason"]
    assert "hotspot" in res.rejected[1]["reason"]


def test_xlsx_round_trip_and_row_numbers_in_rejections() -> None:
    from openpyxl import Workbook, load_workbook

    from itembank.formats.tabular import read_xlsx, write_xlsx

    data = write_xlsx(DRAFTS)
    assert _fields(read_xlsx(data).drafts) == _fields(DRAFTS)
    book = load_workbook(io.BytesIO(data))
    assert [c.value for c in book.active[1]][:3] == ["source_id", "type", "stem"]
    bad = Workbook()
    sheet = bad.active
    sheet.append(["source_id", "type", "stem", "key"])
    sheet.append(["ok", "essay", "Write", None])
    sheet.append([None, None, None, None])  # blank rows are skipped but keep the numbering
    sheet.append(["bad", "single_choice", "S", "{oops"])
    buf = io.BytesIO()
    bad.save(buf)
    res = read_xlsx(buf.getvalue())
    assert [d.source_id for d in res.drafts] == ["ok"]
    assert res.rejected[0]["item"] == "bad" and "row 4" in res.rejected[0]["reason"]
    assert "column key" in res.rejected[0]["reason"]
