"""IMS QTI 2.1 / 2.2 / 3.0 items and content packages: reader and writers (PURE).

QTI 3.0 spells elements `qti-choice-interaction` and attributes `max-choices`; QTI 2.x spells them
`choiceInteraction` and `maxChoices`. The reader first renames a 3.0 tree to the 2.x spelling and drops namespaces,
so one code path reads every version. Interactions map onto our canonical types; constructs without a faithful
mapping are rejected with a reason naming them ("hotspotInteraction is not supported").
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

from itembank.formats.model import BLANK, Asset, FormatError, ImportResult, ItemDraft, letters
from itembank.formats.safety import parse_xml, read_zip, write_zip

NS = {
    "2.1": "http://www.imsglobal.org/xsd/imsqti_v2p1",
    "2.2": "http://www.imsglobal.org/xsd/imsqti_v2p2",
    "3.0": "http://www.imsglobal.org/xsd/imsqtiasi_v3p0",
}
_SCHEMA = {
    "2.1": "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0_v1p0.xsd",
}
_CP_NS = {
    "2.1": "http://www.imsglobal.org/xsd/imscp_v1p1",
    "3.0": "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1",
}
_RES_TYPE = {"2.1": "imsqti_item_xmlv2p1", "3.0": "imsqti_item_xmlv3p0"}
_TEMPLATE = {
    "2.1": "http://www.imsglobal.org/question/qti_v2p1/rptemplates/",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/",
}
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_LOM = "http://ltsc.ieee.org/xsd/LOM"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

_BLOCK_INTERACTIONS = {
    "choiceInteraction",
    "orderInteraction",
    "matchInteraction",
    "associateInteraction",
    "extendedTextInteraction",
    "gapMatchInteraction",
}
_INLINE_INTERACTIONS = {"textEntryInteraction", "inlineChoiceInteraction"}
_SUPPORTED = _BLOCK_INTERACTIONS | _INLINE_INTERACTIONS
# Everything allowed in the response processing rules we recognise as equivalent to the standard templates.
_RP_ALLOWED = {
    "responseProcessing",
    "responseCondition",
    "responseIf",
    "responseElseIf",
    "responseElse",
    "match",
    "equal",
    "variable",
    "correct",
    "setOutcomeValue",
    "baseValue",
    "mapResponse",
    "mapResponsePoint",
    "sum",
    "isNull",
    "and",
    "default",
}
_BLOCK_TAGS = {
    "p",
    "div",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "figure",
    "math",
}
_NCNAME = re.compile(r"^[A-Za-z_][\w.-]*$")


class Unsupported(ValueError):
    """An item construct without a faithful mapping onto our item types."""


# --- reading ------------------------------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _normalise(root: etree._Element) -> None:
    """Rename QTI 3.0 `qti-*` elements and their kebab-case attributes to the 2.x spelling; drop namespaces."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        is_qti = local.startswith("qti-")
        el.tag = _camel(local[4:]) if is_qti else local
        if el.attrib:
            attrs = {}
            for k, v in el.attrib.items():
                name = etree.QName(k).localname
                attrs[_camel(name) if is_qti and "-" in name else name] = v
            el.attrib.clear()
            el.attrib.update(attrs)
    etree.cleanup_namespaces(root)


def _text(el: etree._Element | None) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _inner_html(el: etree._Element) -> str:
    """The element's content as HTML; a lone unadorned <p> wrapper is dropped (plain-text stems stay plain)."""
    kids = list(el)
    if (
        len(kids) == 1
        and kids[0].tag == "p"
        and not kids[0].attrib
        and not (el.text or "").strip()
        and not (kids[0].tail or "").strip()
    ):
        return _inner_html(kids[0])
    parts = [el.text or ""]
    parts += [etree.tostring(k, method="html", encoding="unicode", with_tail=True) for k in kids]
    return "".join(parts).strip()


def _replace(el: etree._Element, text: str) -> None:
    """Replace an element by plain text, keeping its tail."""
    parent = el.getparent()
    if parent is None:
        return
    joined = text + (el.tail or "")
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + joined
    else:
        parent.text = (parent.text or "") + joined
    parent.remove(el)


@dataclass
class _Decl:
    identifier: str
    cardinality: str
    base_type: str
    correct: list[str] = field(default_factory=list)
    mapping: dict[str, float] = field(default_factory=dict)
    default: float = 0.0
    lower: float | None = None
    upper: float | None = None
    case_sensitive: bool = False
    rule: str = "match_correct"
    tolerance: float = 0.0


def _decls(root: etree._Element) -> dict[str, _Decl]:
    out: dict[str, _Decl] = {}
    for rd in root.iter("responseDeclaration"):
        d = _Decl(rd.get("identifier", ""), rd.get("cardinality", "single"), rd.get("baseType", "identifier"))
        cr = rd.find("correctResponse")
        if cr is not None:
            d.correct = [(v.text or "").strip() for v in cr.iter("value")]
        m = rd.find("mapping")
        if m is not None:
            d.default = float(m.get("defaultValue", 0) or 0)
            d.lower = float(m.get("lowerBound")) if m.get("lowerBound") else None
            d.upper = float(m.get("upperBound")) if m.get("upperBound") else None
            for e in m.iter("mapEntry"):
                d.mapping[(e.get("mapKey") or "").strip()] = float(e.get("mappedValue", 0) or 0)
                d.case_sensitive |= e.get("caseSensitive", "false").lower() == "true"
        if rd.find("areaMapping") is not None:
            d.rule = "map_response_point"
        out[d.identifier] = d
    return out


def _response_rules(root: etree._Element, decls: dict[str, _Decl]) -> str | None:
    """Set each declaration's rule from the response processing; return a warning or None. Raise Unsupported."""
    rp = root.find("responseProcessing")
    if rp is None:
        return "no response processing: scored as match_correct"
    template = rp.get("template") or rp.get("templateLocation") or ""
    if template:
        name = posixpath.basename(template.rstrip("/")).removesuffix(".xml")
        if name not in ("match_correct", "map_response", "map_response_point"):
            raise Unsupported(f"response processing template {name!r} is not supported")
        for d in decls.values():
            d.rule = name
        return None
    for el in rp.iter():
        if el.tag not in _RP_ALLOWED:
            raise Unsupported(f"response processing with <{el.tag}> is not supported")
    for d in decls.values():
        if rp.xpath(".//mapResponsePoint[@identifier=$i]", i=d.identifier):
            d.rule = "map_response_point"
        elif rp.xpath(".//mapResponse[@identifier=$i]", i=d.identifier):
            d.rule = "map_response"
        for eq in rp.xpath(".//equal[variable[@identifier=$i]]", i=d.identifier):
            if eq.get("toleranceMode", "exact") not in ("exact", "absolute"):
                raise Unsupported(f"equal with toleranceMode {eq.get('toleranceMode')!r} is not supported")
            d.tolerance = float((eq.get("tolerance") or "0").split()[0])
    return None


def _choices(inter: etree._Element, tag: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Options relabelled A, B, ... in document order, and the map from QTI identifier to label."""
    els = list(inter.iter(tag))
    labels = letters(len(els))
    options = [{"key": lab, "text": _inner_html(e)} for lab, e in zip(labels, els, strict=True)]
    return options, {e.get("identifier", ""): lab for lab, e in zip(labels, els, strict=True)}


def _points(root: etree._Element, fallback: float) -> float:
    for od in root.iter("outcomeDeclaration"):
        if od.get("identifier") == "MAXSCORE":
            v = od.find("defaultValue/value")
            if v is not None and v.text:
                return float(v.text)
    return fallback


def _decl_for(inter: etree._Element, decls: dict[str, _Decl]) -> _Decl:
    rid = inter.get("responseIdentifier", "")
    if rid not in decls:
        raise Unsupported(f"{inter.tag} refers to undeclared response {rid!r}")
    return decls[rid]


def _choice_item(inter: etree._Element, d: _Decl, root: etree._Element) -> dict[str, Any]:
    options, ids = _choices(inter, "simpleChoice")
    weights = {ids[k]: v for k, v in d.mapping.items() if k in ids}
    correct = [ids[c] for c in d.correct if c in ids]
    if not correct and d.rule == "map_response":
        correct = [k for k, v in weights.items() if v > 0]
    if not correct:
        raise Unsupported(f"choiceInteraction response {d.identifier!r} has no correct response")
    is_multiple = d.cardinality == "multiple" or int(inter.get("maxChoices", "1") or 1) != 1
    mapped = d.rule == "map_response" and bool(weights)
    positive = sum(v for v in weights.values() if v > 0) if is_multiple else max([*weights.values(), 0.0])
    points = _points(root, d.upper if d.upper is not None else (positive if mapped and positive > 0 else 1.0))
    # Weights are stored as fractions of the item's points, the way Moodle and GIFT express them.
    settings: dict[str, Any] = (
        {"scoring": "weights", "weights": {k: v / points for k, v in weights.items()}} if mapped and points else {}
    )
    if is_multiple:
        return {
            "type": "multiple_choice",
            "options": options,
            "key": sorted(correct),
            "settings": settings,
            "points": points,
        }
    idents = {i.lower() for i in ids}
    if idents == {"true", "false"} and len(options) == 2:
        true_label = next(lab for i, lab in ids.items() if i.lower() == "true")
        return {"type": "true_false", "key": correct[0] == true_label, "points": points}
    return {"type": "single_choice", "options": options, "key": correct[0], "settings": settings, "points": points}


def _order_item(inter: etree._Element, d: _Decl, root: etree._Element) -> dict[str, Any]:
    options, ids = _choices(inter, "simpleChoice")
    if sorted(d.correct) != sorted(ids):
        raise Unsupported(f"orderInteraction response {d.identifier!r} must order every choice exactly once")
    return {"type": "ordering", "options": options, "key": [ids[c] for c in d.correct], "points": _points(root, 1.0)}


def _match_item(inter: etree._Element, d: _Decl, root: etree._Element) -> dict[str, Any]:
    pairs = [c.split() for c in d.correct]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise Unsupported(f"{inter.tag} response {d.identifier!r} has no correct pairs")
    if inter.tag == "matchInteraction":
        sets = list(inter.iter("simpleMatchSet"))
        if len(sets) != 2:
            raise Unsupported("matchInteraction needs exactly two simpleMatchSet elements")
        left_els, right_els = list(sets[0].iter("simpleAssociableChoice")), list(sets[1].iter("simpleAssociableChoice"))
    else:  # associate: undirected pairs within one set; the first member of each pair forms the left column
        firsts = {p[0] for p in pairs}
        every = list(inter.iter("simpleAssociableChoice"))
        left_els = [e for e in every if e.get("identifier") in firsts]
        right_els = [e for e in every if e.get("identifier") not in firsts]
    left_ids = {e.get("identifier", ""): str(n + 1) for n, e in enumerate(left_els)}
    right_ids = {
        e.get("identifier", ""): lab.lower() for lab, e in zip(letters(len(right_els)), right_els, strict=True)
    }
    key: dict[str, str] = {}
    for a, b in pairs:
        if a in right_ids and b in left_ids:
            a, b = b, a
        if a not in left_ids or b not in right_ids:
            raise Unsupported(f"{inter.tag} pair {a} {b} does not join the two columns")
        if left_ids[a] in key:
            raise Unsupported(f"{inter.tag} pairing one choice with several is not supported")
        key[left_ids[a]] = right_ids[b]
    options = [{"key": left_ids[e.get("identifier", "")], "text": _inner_html(e), "side": "left"} for e in left_els]
    options += [{"key": right_ids[e.get("identifier", "")], "text": _inner_html(e), "side": "right"} for e in right_els]
    return {"type": "matching", "options": options, "key": key, "points": _points(root, 1.0)}


def _blank(d: _Decl, inter: etree._Element) -> dict[str, Any]:
    accepted = list(dict.fromkeys([*d.correct, *(k for k, v in d.mapping.items() if v > 0)]))
    if inter.tag == "inlineChoiceInteraction":
        options, ids = _choices(inter, "inlineChoice")
        texts = {lab: o["text"] for lab, o in zip(ids.values(), options, strict=True)}
        by_id = {i: texts[lab] for i, lab in ids.items()}
        accepted = [by_id[a] for a in accepted if a in by_id]
        blank: dict[str, Any] = {
            "accepted": accepted,
            "numeric": False,
            "tolerance": 0,
            "choices": [o["text"] for o in options],
        }
    else:
        numeric = d.base_type in ("float", "integer")
        blank = {"accepted": accepted, "numeric": numeric, "tolerance": d.tolerance if numeric else 0}
    if not blank["accepted"]:
        raise Unsupported(f"{inter.tag} response {d.identifier!r} has no correct response")
    positive = [v for v in d.mapping.values() if v > 0]
    if d.rule == "map_response" and positive and max(positive) != 1:
        blank["points"] = max(positive)
    return blank


def _gap_match(inter: etree._Element, d: _Decl) -> list[dict[str, Any]]:
    texts = {g.get("identifier", ""): _text(g) for g in inter.iter("gapText")}
    gaps = [g.get("identifier", "") for g in inter.iter("gap")]
    chosen: dict[str, list[str]] = {g: [] for g in gaps}
    for pair in d.correct:
        a, _, b = pair.partition(" ")
        if a in gaps:
            a, b = b, a
        if b in chosen and a in texts:
            chosen[b].append(texts[a])
    if any(not v for v in chosen.values()):
        raise Unsupported("gapMatchInteraction has a gap without a correct gap text")
    return [{"accepted": chosen[g], "numeric": False, "tolerance": 0, "choices": list(texts.values())} for g in gaps]


def _item_from_tree(
    root: etree._Element, fallback_id: str, assets: dict[str, Asset], resolve: Any, warnings: list[str]
) -> ItemDraft:
    ident = root.get("identifier") or fallback_id
    body = root.find("itemBody")
    if body is None:
        raise Unsupported("the item has no itemBody")
    if root.find("templateDeclaration") is not None:
        raise Unsupported("templateDeclaration (cloned item with template variables) is not supported")
    for extra in list(body.iter("rubricBlock", "feedbackBlock", "feedbackInline", "templateBlock", "templateInline")):
        if extra.getparent() is not None:
            _replace(extra, "")
    decls = _decls(root)
    interactions = [el for el in body.iter() if isinstance(el.tag, str) and el.tag.endswith("Interaction")]
    for el in interactions:
        if el.tag not in _SUPPORTED:
            raise Unsupported(f"{el.tag} is not supported")
    if not interactions:
        raise Unsupported("the item has no interaction (an information-only item)")
    warning = _response_rules(root, decls)
    if warning and any(el.tag != "extendedTextInteraction" for el in interactions):
        warnings.append(f"item {ident}: {warning}")
    kinds = {el.tag for el in interactions}
    fields: dict[str, Any]
    if kinds <= _INLINE_INTERACTIONS:
        blanks = [_blank(_decl_for(el, decls), el) for el in interactions]
        first = interactions[0]
        if len(interactions) == 1 and first.tag == "textEntryInteraction" and blanks[0]["numeric"]:
            value = float(blanks[0]["accepted"][0])
            fields = {
                "type": "numerical",
                "key": {"value": value, "tolerance": blanks[0]["tolerance"], "units": []},
                "points": _points(root, 1.0),
            }
            parent = first.getparent()
            alone = (
                parent is not None
                and len(parent) == 1
                and not (parent.text or "").strip()
                and not (first.tail or "").strip()
            )
            _replace(first, "" if alone else BLANK)  # an answer box inside a sentence stays visible as a blank
        elif len(interactions) == 1 and first.tag == "inlineChoiceInteraction":
            options, ids = _choices(first, "inlineChoice")
            d = _decl_for(first, decls)
            if not d.correct or d.correct[0] not in ids:
                raise Unsupported("inlineChoiceInteraction has no correct choice")
            fields = {
                "type": "single_choice",
                "options": options,
                "key": ids[d.correct[0]],
                "points": _points(root, 1.0),
            }
            _replace(first, BLANK)
        else:
            case = any(_decl_for(el, decls).case_sensitive for el in interactions)
            pts = sum(float(b.get("points", 1.0)) for b in blanks)
            fields = {
                "type": "fill_blank",
                "key": blanks,
                "points": _points(root, pts),
                "settings": {"case_sensitive": case, "order_free": False},
            }
            for el in interactions:
                _replace(el, BLANK)
    elif len(interactions) > 1:
        raise Unsupported(f"items combining {' and '.join(sorted(kinds))} are not supported")
    else:
        inter = interactions[0]
        d = _decl_for(inter, decls)
        if d.rule == "map_response_point":
            raise Unsupported("map_response_point applies to graphic interactions, which are not supported")
        if inter.tag == "choiceInteraction":
            fields = _choice_item(inter, d, root)
        elif inter.tag == "orderInteraction":
            fields = _order_item(inter, d, root)
        elif inter.tag in ("matchInteraction", "associateInteraction"):
            fields = _match_item(inter, d, root)
        elif inter.tag == "gapMatchInteraction":
            blanks = _gap_match(inter, d)
            fields = {
                "type": "fill_blank",
                "key": blanks,
                "points": _points(root, float(len(blanks))),
                "settings": {"case_sensitive": False, "order_free": False},
            }
            for g in list(inter.iter("gapText")):
                g.getparent().remove(g)
            for g in list(inter.iter("gap")):
                _replace(g, BLANK)
        else:  # extendedTextInteraction
            lines = int(inter.get("expectedLines") or 0)
            length = int(inter.get("expectedLength") or 0)
            short = (0 < lines <= 3) or (0 < length <= 300)
            fields = {
                "type": "short_answer" if short else "essay",
                "key": {"reference": d.correct[0]} if d.correct else None,
                "points": _points(root, 1.0),
            }
        _unwrap_block(inter)
    for obj in list(body.iter("object")):  # QTI 2.x often embeds pictures as <object type="image/..." data=...>
        if obj.get("type", "").startswith("image/") and obj.getparent() is not None:
            img = etree.Element("img", src=obj.get("data", ""), alt=_text(obj))
            img.tail = obj.tail
            obj.getparent().replace(obj, img)
    for img in body.iter("img"):
        src = img.get("src", "")
        if src and not src.startswith(("data:", "asset:")):
            name = resolve(src) if resolve else None
            if name is None:
                warnings.append(f"item {ident}: image {src!r} is not in the file")
            else:
                img.set("src", f"asset:{name}")
    for el in list(body.iter("p", "div")):  # containers emptied by removing an interaction
        if len(el) == 0 and not (el.text or "").strip() and el.getparent() is not None:
            _replace(el, "")
    feedback = [
        _inner_html(f.find("contentBody") if f.find("contentBody") is not None else f)
        for f in root.iter("modalFeedback")
    ]
    return ItemDraft(
        source_id=ident, stem=_inner_html(body), explanation="\n".join(feedback) or None, assets=assets, **fields
    )


def _unwrap_block(inter: etree._Element) -> None:
    """Put a block interaction's prompt and text (gap match) where the interaction stood; drop its choices."""
    parent = inter.getparent()
    if parent is None:
        return
    for tag in ("simpleChoice", "simpleMatchSet", "simpleAssociableChoice"):
        for c in list(inter.iter(tag)):
            if c.getparent() is not None:
                c.getparent().remove(c)
    prompt = inter.find("prompt")
    if prompt is not None:
        prompt.tag = "p"
    pos = parent.index(inter)
    kids = list(inter)
    text = (inter.text or "").strip()
    tail = inter.tail
    parent.remove(inter)
    for n, k in enumerate(kids):
        parent.insert(pos + n, k)
    if text:
        para = etree.Element("p")
        para.text = text
        parent.insert(pos, para)
    if tail and tail.strip():
        last = parent[pos + len(kids) - 1] if kids else None
        if last is not None:
            last.tail = (last.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _read_one(
    data: bytes, fallback_id: str, result: ImportResult, files: dict[str, bytes] | None, href: str, what: str
) -> None:
    try:
        root = parse_xml(data, what)
    except FormatError as exc:
        if files is None:
            raise
        result.rejected.append({"item": fallback_id, "reason": str(exc)})
        return
    _normalise(root)
    if root.tag != "assessmentItem":
        if files is None:
            raise FormatError(f"{what}: root element <{root.tag}> is not a QTI assessment item")
        result.rejected.append({"item": fallback_id, "reason": f"{what}: <{root.tag}> is not an assessment item"})
        return
    ident = root.get("identifier") or fallback_id
    assets: dict[str, Asset] = {}

    def resolve(src: str) -> str | None:
        if files is None or re.match(r"^[a-z][a-z0-9+.-]*:", src, flags=re.I):
            return None
        path = posixpath.normpath(posixpath.join(posixpath.dirname(href), src.split("#")[0].split("?")[0]))
        if path not in files:
            return None
        name = posixpath.basename(path)
        while name in assets and assets[name].data != files[path]:
            name = "_" + name
        assets[name] = Asset(files[path], mimetypes.guess_type(name)[0] or "application/octet-stream")
        return name

    try:
        result.drafts.append(_item_from_tree(root, fallback_id, assets, resolve, result.warnings))
    except Unsupported as exc:
        result.rejected.append({"item": ident, "reason": f"item {ident}: {exc}"})
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        result.rejected.append({"item": ident, "reason": f"item {ident}: {type(exc).__name__}: {exc}"})


def read_qti_item(data: bytes) -> ImportResult:
    """Read one QTI 2.1/2.2/3.0 assessment item XML file."""
    result = ImportResult()
    _read_one(data, "item-1", result, None, "", "QTI item")
    return result


def read_qti_package(data: bytes) -> ImportResult:
    """Read a QTI content package (zip with imsmanifest.xml): every item resource, with its media as assets."""
    files = read_zip(data, "QTI package")
    if "imsmanifest.xml" not in files:
        raise FormatError("QTI package has no imsmanifest.xml")
    manifest = parse_xml(files["imsmanifest.xml"], "imsmanifest.xml")
    _normalise(manifest)
    result = ImportResult()
    hrefs: list[str] = []
    for res in manifest.iter("resource"):
        rtype = res.get("type", "")
        href = res.get("href", "")
        if rtype.startswith("imsqti_item") and href:
            base = res.get("base") or ""
            hrefs.append(posixpath.normpath(posixpath.join(base, href)))
        elif rtype.startswith("imsqti_test"):
            result.warnings.append(f"test {href or res.get('identifier')!r}: only its items are imported")
    if not hrefs:
        raise FormatError("imsmanifest.xml lists no QTI item resources")
    for n, href in enumerate(hrefs, start=1):
        if href not in files:
            result.rejected.append({"item": href, "reason": f"manifest resource {href!r} is missing from the package"})
            continue
        _read_one(files[href], f"item-{n}", result, files, href, href)
    return result


# --- writing ------------------------------------------------------------------------------------------------


def _ident(value: str, prefix: str = "I") -> str:
    value = str(value)
    return value if _NCNAME.match(value) else prefix + re.sub(r"[^\w.-]", "_", value)


class _Writer:
    """Builds elements in the spelling of one QTI version."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.ns = NS[version]
        self.v3 = version == "3.0"

    def tag(self, name: str) -> str:
        if self.v3:
            name = "qti-" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), name)
        return f"{{{self.ns}}}{name}"

    def attr(self, name: str) -> str:
        return re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), name) if self.v3 else name

    def el(self, parent: etree._Element | None, name: str, text: str | None = None, **attrs: Any) -> etree._Element:
        att = {self.attr(k): str(v) for k, v in attrs.items() if v is not None}
        if parent is None:
            node = etree.Element(self.tag(name), att, nsmap={None: self.ns, "xsi": XSI})
        else:
            node = etree.SubElement(parent, self.tag(name), att)
        if text is not None:
            node.text = text
        return node

    def html(self, parent: etree._Element, html: str, media: dict[str, str], gaps: list[Any] | None = None) -> None:
        """Append sanitised item HTML as XHTML in the QTI namespace; `____` blanks become `gaps()` elements."""
        frag = lxml.html.fragment_fromstring(html or "", create_parent="div")
        if not any(isinstance(k.tag, str) and k.tag in _BLOCK_TAGS for k in frag):
            para = etree.SubElement(parent, f"{{{self.ns}}}p")
            self._copy_into(frag, para, media, False)
            target = para
        else:
            self._copy_into(frag, parent, media, False)
            target = parent
        if gaps is not None:
            _split_gaps(target, gaps)

    def _copy_into(self, src: Any, dst: etree._Element, media: dict[str, str], math: bool) -> None:
        _append_text(dst, src.text)
        for k in src:
            if not isinstance(k.tag, str):
                _append_text(dst, k.tail)
                continue
            in_math = math or k.tag == "math"
            ns = MATHML_NS if in_math else self.ns
            attrs = {a: v for a, v in k.attrib.items() if ":" not in a}
            if k.tag == "img" and attrs.get("src", "").startswith("asset:"):
                attrs["src"] = media.get(attrs["src"][6:], attrs["src"])
            nsmap = {None: MATHML_NS} if k.tag == "math" and not math else None
            child = etree.SubElement(dst, f"{{{ns}}}{k.tag}", attrs, nsmap=nsmap)
            self._copy_into(k, child, media, in_math)
            child.tail = k.tail


def _append_text(dst: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(dst):
        dst[-1].tail = (dst[-1].tail or "") + text
    else:
        dst.text = (dst.text or "") + text


def _split_gaps(root: etree._Element, gaps: list[Any]) -> None:
    """Replace each `____` in text nodes under root by the next element from the `gaps` factory list."""
    pattern = re.compile(re.escape(BLANK) + "_*")
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            continue
        if el.text and pattern.search(el.text) and gaps:
            parts = pattern.split(el.text)
            el.text = parts[0]
            for n, part in enumerate(parts[1:]):
                if not gaps:
                    el.text += BLANK + part
                    continue
                gap = gaps.pop(0)()
                el.insert(n, gap)
                gap.tail = part
        if el is not root and el.tail and pattern.search(el.tail) and gaps:
            parts = pattern.split(el.tail)
            el.tail = parts[0]
            parent = el.getparent()
            pos = parent.index(el)
            for n, part in enumerate(parts[1:], start=1):
                if not gaps:
                    el.tail += BLANK + part
                    continue
                gap = gaps.pop(0)()
                parent.insert(pos + n, gap)
                gap.tail = part


def _tf_options() -> list[dict[str, str]]:
    return [{"key": "true", "text": "True"}, {"key": "false", "text": "False"}]


def write_qti_item(d: ItemDraft, version: str = "3.0", media: dict[str, str] | None = None) -> bytes:
    """One item as a QTI assessment item document of the given version ("2.1", "2.2" or "3.0")."""
    w = _Writer(version)
    media = media or {}
    ident = _ident(d.source_id)
    title = " ".join(re.sub(r"<[^>]+>", " ", d.stem).split())[:60] or ident
    root = w.el(None, "assessmentItem", identifier=ident, title=title, adaptive="false", timeDependent="false")
    root.set(f"{{{XSI}}}schemaLocation", f"{w.ns} {_SCHEMA.get(version, _SCHEMA['2.1'])}")
    rule = "match_correct"
    responses: list[tuple[str, str, str, list[str], dict[str, float], dict[str, Any]]] = []
    t = d.type
    if t in ("single_choice", "multiple_choice", "true_false", "ordering"):
        multiple = t == "multiple_choice"
        key = ["true" if d.key else "false"] if t == "true_false" else (d.key if isinstance(d.key, list) else [d.key])
        weights = {str(k): float(v) * d.points for k, v in (d.settings.get("weights") or {}).items()}
        bounds = {"lowerBound": "0", "upperBound": repr(float(d.points))}
        if weights:
            rule = "map_response"
        card = "ordered" if t == "ordering" else ("multiple" if multiple else "single")
        responses.append(
            (
                "RESPONSE",
                card,
                "identifier",
                [_ident(k, "C") for k in key],
                {_ident(k, "C"): v for k, v in weights.items()} if rule == "map_response" else {},
                bounds,
            )
        )
    elif t == "matching":
        pairs = [f"{_ident(a, 'L')} {_ident(b, 'R')}" for a, b in (d.key or {}).items()]
        responses.append(("RESPONSE", "multiple", "directedPair", pairs, {}, {}))
    elif t == "numerical":
        responses.append(("RESPONSE", "single", "float", [repr(float(d.key["value"]))], {}, {}))
    elif t == "fill_blank":
        rule = "map_response"
        for n, blank in enumerate(d.key or [], start=1):
            base = "float" if blank.get("numeric") else "string"
            value = float(blank.get("points", 1.0))
            if blank.get("choices"):
                ids = {c: f"G{n}_{i + 1}" for i, c in enumerate(blank["choices"])}
                acc = [ids[a] for a in blank["accepted"] if a in ids]
                responses.append((f"RESPONSE_{n}", "single", "identifier", acc[:1], dict.fromkeys(acc, value), {}))
            else:
                acc = [str(a) for a in blank["accepted"]]
                responses.append((f"RESPONSE_{n}", "single", base, acc[:1], dict.fromkeys(acc, value), {}))
    elif t in ("short_answer", "essay"):
        ref = (d.key or {}).get("reference") if isinstance(d.key, dict) else None
        responses.append(("RESPONSE", "single", "string", [ref] if ref else [], {}, {}))
    for rid, card, base, correct, mapping, bounds in responses:
        rd = w.el(root, "responseDeclaration", identifier=rid, cardinality=card, baseType=base)
        if correct:
            cr = w.el(rd, "correctResponse")
            for c in correct:
                w.el(cr, "value", c)
        if mapping:
            m = w.el(rd, "mapping", defaultValue="0", **bounds)
            for k, v in mapping.items():
                w.el(
                    m,
                    "mapEntry",
                    mapKey=k,
                    mappedValue=repr(v),
                    caseSensitive="true" if d.settings.get("case_sensitive") else "false",
                )
    for oid, value in (("SCORE", "0"), ("MAXSCORE", repr(float(d.points)))):
        od = w.el(root, "outcomeDeclaration", identifier=oid, cardinality="single", baseType="float")
        w.el(w.el(od, "defaultValue"), "value", value)
    body = w.el(root, "itemBody")
    if t == "fill_blank":
        factories = []
        for n, blank in enumerate(d.key or [], start=1):
            if blank.get("choices"):

                def make(n: int = n, choices: list[str] = blank["choices"]) -> etree._Element:
                    ic = w.el(None, "inlineChoiceInteraction", responseIdentifier=f"RESPONSE_{n}", shuffle="false")
                    for i, c in enumerate(choices):
                        w.el(ic, "inlineChoice", c, identifier=f"G{n}_{i + 1}")
                    return ic
            else:

                def make(n: int = n) -> etree._Element:
                    return w.el(None, "textEntryInteraction", responseIdentifier=f"RESPONSE_{n}", expectedLength="15")

            factories.append(make)
        w.html(body, d.stem, media, factories)
        if factories:  # the stem had fewer `____` than blanks: put the rest after it
            para = w.el(body, "p")
            for make in factories:
                para.append(make())
    elif t != "numerical":
        w.html(body, d.stem, media)
    if t in ("single_choice", "multiple_choice", "true_false"):
        options = _tf_options() if t == "true_false" else d.options
        ci = w.el(
            body,
            "choiceInteraction",
            responseIdentifier="RESPONSE",
            shuffle="false",
            maxChoices="0" if t == "multiple_choice" else "1",
        )
        for o in options:
            w.html(w.el(ci, "simpleChoice", identifier=_ident(o["key"], "C")), o["text"], media)
            _flatten_choice(ci[-1])
    elif t == "ordering":
        oi = w.el(body, "orderInteraction", responseIdentifier="RESPONSE", shuffle="false")
        for o in d.options:
            w.html(w.el(oi, "simpleChoice", identifier=_ident(o["key"], "C")), o["text"], media)
            _flatten_choice(oi[-1])
    elif t == "matching":
        left = [o for o in d.options if o.get("side") == "left"]
        right = [o for o in d.options if o.get("side") == "right"]
        mi = w.el(body, "matchInteraction", responseIdentifier="RESPONSE", shuffle="false", maxAssociations=len(left))
        for side, prefix in ((left, "L"), (right, "R")):
            ms = w.el(mi, "simpleMatchSet")
            for o in side:
                w.html(
                    w.el(ms, "simpleAssociableChoice", identifier=_ident(o["key"], prefix), matchMax="1"),
                    o["text"],
                    media,
                )
                _flatten_choice(ms[-1])
    elif t == "numerical":
        box = [lambda: w.el(None, "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="10")]
        w.html(body, d.stem, media, box if BLANK in d.stem else None)
        if box:
            w.el(w.el(body, "p"), "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="10")
    elif t in ("short_answer", "essay"):
        w.el(
            body,
            "extendedTextInteraction",
            responseIdentifier="RESPONSE",
            expectedLines="3" if t == "short_answer" else "15",
        )
    if t == "numerical" and float(d.key.get("tolerance") or 0) > 0:
        _custom_tolerance(w, root, float(d.key["tolerance"]))
    elif t == "fill_blank":
        rp = w.el(root, "responseProcessing")
        total = w.el(w.el(rp, "setOutcomeValue", identifier="SCORE"), "sum")
        for rid, *_ in responses:
            w.el(total, "mapResponse", identifier=rid)
    elif t not in ("short_answer", "essay"):
        w.el(root, "responseProcessing", template=_TEMPLATE["3.0" if w.v3 else "2.1"] + rule)
    if d.explanation:
        fb = w.el(root, "modalFeedback", outcomeIdentifier="FEEDBACK", identifier="EXPLANATION", showHide="hide")
        if w.v3:
            fb = w.el(fb, "contentBody")
        w.html(fb, d.explanation, media)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _flatten_choice(choice: etree._Element) -> None:
    """simpleChoice holds flow content; drop the <p> wrapper html() adds around plain text options."""
    if len(choice) == 1 and etree.QName(choice[0]).localname == "p" and not choice[0].attrib:
        p = choice[0]
        choice.text = p.text
        for k in list(p):
            choice.append(k)
        choice.remove(p)


def _custom_tolerance(w: _Writer, root: etree._Element, tolerance: float) -> None:
    """Response processing for a numeric answer within ± tolerance (no standard template exists)."""
    rp = w.el(root, "responseProcessing")
    cond = w.el(w.el(rp, "responseCondition"), "responseIf")
    eq = w.el(cond, "equal", toleranceMode="absolute", tolerance=f"{tolerance!r} {tolerance!r}")
    w.el(eq, "variable", identifier="RESPONSE")
    w.el(eq, "correct", identifier="RESPONSE")
    w.el(w.el(cond, "setOutcomeValue", identifier="SCORE"), "variable", identifier="MAXSCORE")


def write_qti_package(drafts: list[ItemDraft], version: str = "3.0", title: str = "") -> bytes:
    """A content package (zip with imsmanifest.xml, one XML file per item, media under media/<item>/)."""
    if version not in ("2.1", "3.0"):
        raise ValueError(f"QTI package version {version!r}: expected 2.1 or 3.0")
    cp = _CP_NS[version]
    manifest = etree.Element(f"{{{cp}}}manifest", identifier="MANIFEST-1", nsmap={None: cp})
    meta = etree.SubElement(manifest, f"{{{cp}}}metadata")
    etree.SubElement(meta, f"{{{cp}}}schema").text = "QTI Package" if version == "3.0" else "QTIv2.1 Package"
    etree.SubElement(meta, f"{{{cp}}}schemaversion").text = "3.0.0" if version == "3.0" else "1.0.0"
    if title:  # IEEE LOM general/title, where packaging tools look for a package's name
        lom = etree.SubElement(meta, f"{{{_LOM}}}lom", nsmap={"lom": _LOM})
        etree.SubElement(
            etree.SubElement(etree.SubElement(lom, f"{{{_LOM}}}general"), f"{{{_LOM}}}title"), f"{{{_LOM}}}string"
        ).text = title
    etree.SubElement(manifest, f"{{{cp}}}organizations")
    resources = etree.SubElement(manifest, f"{{{cp}}}resources")
    files: dict[str, bytes] = {}
    used: set[str] = set()
    for d in drafts:
        ident = _ident(d.source_id)
        while ident in used:
            ident += "_"
        used.add(ident)
        media = {name: f"../media/{ident}/{name}" for name in d.assets}
        href = f"items/{ident}.xml"
        files[href] = write_qti_item(d, version, media)
        res = etree.SubElement(
            resources, f"{{{cp}}}resource", identifier=f"RES-{ident}", type=_RES_TYPE[version], href=href
        )
        etree.SubElement(res, f"{{{cp}}}file", href=href)
        for name, asset in d.assets.items():
            path = f"media/{ident}/{name}"
            files[path] = asset.data
            etree.SubElement(res, f"{{{cp}}}file", href=path)
    out = {"imsmanifest.xml": etree.tostring(manifest, xml_declaration=True, encoding="UTF-8", pretty_print=True)}
    out.update(files)
    return write_zip(out)
