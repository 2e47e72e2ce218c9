"""GIFT reader (subset of Moodle's documented syntax; unsupported constructs are rejected by name).

Supported: multiple choice (one `=` answer -> single_choice; `~%n%` weights -> multiple_choice with the
positively weighted options as key), true/false, short answer (all `=` answers), numerical `#value:tolerance`
and `#min..max`, essay `{}`, `$CATEGORY:` -> knowledge point, `::title::`, `#feedback`, escapes.
Rejected with a reason: matching (`->`), missing-word questions (text after the answer block).
"""

from __future__ import annotations

import re

from itembank.formats.aiken import decode_text
from itembank.formats.model import ImportResult, ItemDraft

_ESC = {"\\~": "\x01", "\\=": "\x02", "\\#": "\x03", "\\{": "\x04", "\\}": "\x05", "\\:": "\x06"}
_UNESC = {"\x01": "~", "\x02": "=", "\x03": "#", "\x04": "{", "\x05": "}", "\x06": ":"}


def _unescape(s: str) -> str:
    for k, v in _UNESC.items():
        s = s.replace(k, v)
    return s.strip()


def _split_answers(body: str) -> list[tuple[str, str]]:
    """Split `=a#fb ~b` into (marker, text-without-feedback)."""
    parts = re.findall(r"([=~])([^=~]*)", body)
    return [(m, t.split("#", 1)[0].strip()) for m, t in parts]


def _parse(qid: str, title: str, block: str, category: str | None) -> ItemDraft:
    m = re.fullmatch(r"(.*?)\{(.*?)\}(.*)", block, flags=re.S)
    if m is None:
        raise ValueError("no answer block {...}")
    stem, body, tail = m.group(1).strip(), m.group(2).strip(), m.group(3).strip()
    if tail:
        raise ValueError("missing-word question (text after the answer block) is not supported")
    stem = _unescape(re.sub(r"^\[(html|moodle|markdown|plain)\]", "", stem))
    common = {"source_id": title or qid, "stem": stem,
              "knowledge_points": [category] if category else []}
    if body == "":
        return ItemDraft(type="essay", **common)
    if re.fullmatch(r"(T|F|TRUE|FALSE)(#.*)?", body, flags=re.S):
        return ItemDraft(type="true_false", key=body.split("#")[0].startswith("T"), **common)
    if body.startswith("#"):
        num = body[1:].split("#")[0].split("=")[0].strip()
        if ".." in num:
            lo, hi = (float(x) for x in num.split(".."))
            return ItemDraft(type="numerical", key={"value": (lo + hi) / 2, "tolerance": (hi - lo) / 2,
                                                   "units": None}, **common)
        value, _, tol = num.partition(":")
        return ItemDraft(type="numerical", key={"value": float(value), "tolerance": float(tol or 0),
                                               "units": None}, **common)
    if "->" in body:
        raise ValueError("matching question (->) is not supported yet")
    answers = _split_answers(body)
    if answers and all(mk == "=" for mk, _ in answers):
        return ItemDraft(type="fill_blank", key=[{"accepted": [_unescape(t) for _, t in answers],
                                                 "numeric": False, "tolerance": 0}],
                         settings={"case_sensitive": False, "order_free": False}, **common)
    keys = [chr(ord("A") + i) for i in range(len(answers))]
    options = [{"key": k, "text": _unescape(re.sub(r"^%-?[\d.]+%", "", t))}
               for k, (_, t) in zip(keys, answers, strict=True)]
    weights = [re.match(r"^%(-?[\d.]+)%", t) for _, t in answers]
    if any(weights):
        key = [k for k, w in zip(keys, weights, strict=True) if w and float(w.group(1)) > 0]
        return ItemDraft(type="multiple_choice", options=options, key=key, **common)
    right = [k for k, (mk, _) in zip(keys, answers, strict=True) if mk == "="]
    if len(right) != 1:
        raise ValueError(f"multiple choice needs exactly one '=' answer, found {len(right)}")
    return ItemDraft(type="single_choice", options=options, key=right[0], **common)


def read_gift(data: bytes) -> ImportResult:
    """Parse a GIFT file; each question is separated by a blank line."""
    text = decode_text(data).replace("\r\n", "\n")
    for k, v in _ESC.items():
        text = text.replace(k, v)
    text = "\n".join(ln for ln in text.split("\n") if not ln.lstrip().startswith("//"))
    result = ImportResult()
    category: str | None = None
    for n, block in enumerate(b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()):
        if block.startswith("$CATEGORY:"):
            category = block.split(":", 1)[1].strip().removeprefix("$course$/")
            continue
        title = ""
        tm = re.match(r"::(.*?)::(.*)", block, flags=re.S)
        if tm:
            title, block = _unescape(tm.group(1)), tm.group(2)
        qid = f"gift-{n + 1}"
        try:
            result.drafts.append(_parse(qid, title, block, category))
        except ValueError as exc:
            result.rejected.append({"item": title or qid, "reason": f"question {title or n + 1}: {exc}"})
    return result
