"""Format detection, size limits, encodings and hostile files: a clear error and nothing returned."""

import io
import zipfile
from pathlib import Path

import pytest

from itembank.formats import detect, safety
from itembank.formats.detect import FORMATS, detect_format, read_items, write_items
from itembank.formats.model import FormatError, ItemDraft

DATA = Path(__file__).parent / "data"
QTI_ITEM = (DATA / "qti21_choice.xml").read_bytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_detects_by_extension_and_content() -> None:
    assert detect_format("a.txt", b"Q\nA. x\nB. y\nANSWER: A\n") == "aiken"
    assert detect_format("a.txt", b"Q {T}") == "gift"
    assert detect_format("export.xml", b"<?xml version='1.0'?>\n<!-- c --><quiz></quiz>") == "moodle"
    assert detect_format("item", QTI_ITEM) == "qti"
    assert detect_format("x.xml", b'<qti-assessment-item xmlns="x"/>') == "qti"
    assert detect_format("p.bin", _zip({"imsmanifest.xml": b"<manifest/>"})) == "qti_package"
    assert detect_format("w.zip", _zip({"word/document.xml": b"<w/>"})) == "docx"
    assert read_items("q.txt", b"Q {T}").drafts[0].key is True
    with pytest.raises(ValueError, match=r"unsupported item file type '\.exe'"):
        detect_format("x.exe", b"MZ")
    with pytest.raises(FormatError, match="neither Moodle"):
        read_items("x.xml", b"<html><body/></html>")


def test_every_format_writes_and_reads_back() -> None:
    drafts = [
        ItemDraft(
            "q1", "single_choice", "2+2?", options=[{"key": "A", "text": "4"}, {"key": "B", "text": "5"}], key="A"
        )
    ]
    names = {"qti21": "x.zip", "qti30": "x.zip", "moodle": "x.xml", "aiken": "x.txt"}
    for fmt in FORMATS:
        data = write_items(fmt, drafts)
        res = read_items(names.get(fmt, "x." + fmt), data)
        assert [(d.type, d.key, d.options) for d in res.drafts] == [("single_choice", "A", drafts[0].options)], fmt
    with pytest.raises(ValueError, match="unknown export format"):
        write_items("pdf", drafts)
    with pytest.raises(ValueError, match="unknown export option"):
        write_items("csv", drafts, title="Bank")
    for fmt in ("qti21", "qti30", "moodle", "docx"):  # titled exports still read back the same items
        res = read_items(names.get(fmt, "x." + fmt), write_items(fmt, drafts, title="期中 -- Bank"))
        assert [d.key for d in res.drafts] == ["A"], fmt


def test_oversized_and_empty_files_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FormatError, match="empty"):
        read_items("q.gift", b"")
    with pytest.raises(FormatError, match="empty"):
        read_items("q.xml", b"  \n")
    monkeypatch.setattr(detect, "MAX_BYTES", 4)
    with pytest.raises(ValueError, match="exceeds"):
        read_items("q.gift", b"Q {T}")


def test_xxe_external_entity_is_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<quiz><question type="essay"><name><text>&xxe;</text></name><questiontext format="html">'
        b"<text>&xxe;</text></questiontext></question></quiz>"
    )
    with pytest.raises(FormatError, match="entities") as err:
        read_items("evil.xml", xxe)
    assert "root:" not in str(err.value)
    qti = QTI_ITEM.replace(
        b"<assessmentItem", b'<!DOCTYPE assessmentItem [<!ENTITY x SYSTEM "file:///etc/passwd">]><assessmentItem', 1
    ).replace(b"What does it say?", b"&x;")
    with pytest.raises(FormatError, match="entities"):
        read_items("evil.xml", qti)


def test_billion_laughs_is_refused_quickly() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
        )
        + b"]><quiz><question type='essay'><name><text>&lol9;</text></name></question></quiz>"
    )
    with pytest.raises(FormatError, match="entities"):
        read_items("lol.xml", lol)


def test_zip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _zip({"imsmanifest.xml": b"<manifest/>", "items/big.xml": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 20_000  # ~1000:1
    with pytest.raises(FormatError, match="zip bomb"):
        read_items("bomb.zip", bomb)
    monkeypatch.setattr(safety, "MAX_UNCOMPRESSED", 1000)
    with pytest.raises(FormatError, match="zip bomb"):
        read_items("big.zip", _zip({"imsmanifest.xml": b" " * 600, "b.xml": b" " * 600}))
    monkeypatch.setattr(safety, "MAX_MEMBERS", 3)
    with pytest.raises(FormatError, match="members"):
        read_items("many.zip", _zip({f"m{i}": b"" for i in range(5)} | {"imsmanifest.xml": b""}))


@pytest.mark.parametrize(
    "name", ["../../etc/cron.d/evil", "/etc/passwd", "items/../../x.xml", "C:/x.xml", "..\\..\\x.xml"]
)
def test_zip_path_traversal_is_refused(name: str) -> None:
    package = _zip({"imsmanifest.xml": (DATA / "qti30_package" / "imsmanifest.xml").read_bytes(), name: b"x"})
    with pytest.raises(FormatError, match="unsafe path"):
        read_items("evil.zip", package)


def test_truncated_zip_and_broken_xml() -> None:
    package = _zip(
        {
            "imsmanifest.xml": (DATA / "qti30_package" / "imsmanifest.xml").read_bytes(),
            "items/primes.xml": (DATA / "qti30_package" / "items" / "primes.xml").read_bytes(),
        }
    )
    with pytest.raises(FormatError, match="zip"):
        read_items("cut.zip", package[: len(package) // 2])
    with pytest.raises(FormatError, match="not well-formed"):
        read_items("broken.xml", b"<quiz><question type='essay'><name>")
    with pytest.raises(FormatError, match="not well-formed"):
        read_items("broken.xml", QTI_ITEM[:300])
    with pytest.raises(FormatError, match=r"Word document|zip"):
        read_items("broken.docx", b"PK\x03\x04garbage")


def test_encodings_gbk_utf16_bom_and_garbage() -> None:
    aiken = "二次函数的顶点是？\nA. 原点\nB. 其他\nANSWER: B\n"
    gbk = read_items("a.txt", aiken.encode("gbk"))
    assert gbk.drafts[0].stem == "二次函数的顶点是？" and any("GB18030" in w for w in gbk.warnings)
    utf16 = read_items("a.txt", aiken.encode("utf-16"))
    assert utf16.drafts[0].key == "B" and not utf16.warnings
    bom = read_items("a.txt", b"\xef\xbb\xbf" + aiken.encode())
    assert bom.drafts[0].stem == "二次函数的顶点是？"
    csv_text = "source_id,type,stem\nq1,essay,写一篇作文\n"
    res = read_items("a.csv", csv_text.encode("gb18030"))
    assert res.drafts[0].stem == "写一篇作文" and any("GB18030" in w for w in res.warnings)
    with pytest.raises(FormatError, match=r"neither UTF-8 .* nor GBK"):
        read_items("a.gift", b"Q {T} \x81\x20\xff\xff")
