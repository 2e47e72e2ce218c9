"""Format detection and size limit."""

import pytest

from itembank.formats import detect
from itembank.formats.detect import detect_format, read_items


def test_detects_by_extension_and_content() -> None:
    assert detect_format("a.txt", b"Q\nA. x\nB. y\nANSWER: A\n") == "aiken"
    assert detect_format("a.txt", b"Q {T}") == "gift"
    assert read_items("q.txt", b"Q {T}").drafts[0].key is True
    with pytest.raises(ValueError, match=r"unsupported item file type '\.exe'"):
        detect_format("x.exe", b"")


def test_oversized_file_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "MAX_BYTES", 4)
    with pytest.raises(ValueError, match="exceeds"):
        read_items("q.gift", b"Q {T}")
