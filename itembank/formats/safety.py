"""Defences against hostile files: hardened XML parsing and bounded zip extraction (PURE).

XML: no external entities, no network, no DTD loading, no huge trees, and any DOCTYPE that declares entities is
refused outright (billion laughs / XXE). Zip: member count, total uncompressed size and per-member compression
ratio are limited while reading (declared sizes can lie), and members with absolute paths or `..` are refused.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

from lxml import etree

from itembank.formats.model import FormatError

MAX_MEMBERS = 60_000
MAX_UNCOMPRESSED = 512 * 1024 * 1024
MAX_RATIO = 200  # deflate can reach ~1000:1 only on degenerate data; real XML and media stay far below this
_RATIO_FLOOR = 1024 * 1024  # tiny members may compress extremely well (e.g. a file of spaces) without harm


def xml_parser() -> etree.XMLParser:
    """A parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, what: str = "XML", warnings: list[str] | None = None) -> etree._Element:
    """Parse untrusted XML; raise FormatError naming the problem (entities, broken markup).

    A file that does not declare its encoding and is not UTF-8 is read as GB18030 (Chinese Windows tools),
    with a warning in `warnings`.
    """
    if not data.strip():
        raise FormatError(f"{what} is empty")
    head = data.decode("utf-16", "ignore") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("latin-1")
    doctype = head.find("<!DOCTYPE")
    if doctype >= 0:
        end = head.find("]>", doctype)
        declarations = head[doctype : end if end >= 0 else doctype + 4096]
        if "<!ENTITY" in declarations:  # refuse before libxml2 sees it: no expansion, no external fetch
            raise FormatError(f"{what} declares XML entities in its DOCTYPE; refused (entity expansion / XXE risk)")
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as exc:
        if "not proper UTF-8" not in exc.msg and "Invalid bytes in character encoding" not in exc.msg:
            raise FormatError(f"{what} is not well-formed XML: {exc.msg} (line {exc.lineno})") from exc
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as err:
            raise FormatError(f"{what} is neither UTF-8 nor GBK/GB18030 (byte {err.start}); save it as UTF-8") from err
        try:
            root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text).encode("utf-8"), xml_parser())
        except etree.XMLSyntaxError as exc2:
            raise FormatError(f"{what} is not well-formed XML: {exc2.msg} (line {exc2.lineno})") from exc2
        if warnings is not None:
            warnings.append("converted from GB18030 (GBK): the file was not UTF-8")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise FormatError(f"{what} declares XML entities in its DOCTYPE; refused (entity expansion / XXE risk)")
    if root.getroottree().docinfo.system_url:
        raise FormatError(f"{what} refers to an external DTD; refused")
    return root


def safe_member_name(name: str) -> str:
    """The member's normalised path; refuse absolute paths, drive letters and `..` (path traversal)."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in clean.split("/"):
        raise FormatError(f"zip member {name!r} has an unsafe path (absolute or containing '..'); refused")
    return posixpath.normpath(clean)


def read_zip(data: bytes, what: str = "package") -> dict[str, bytes]:
    """All file members of a zip archive, by normalised path, within the size and ratio limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FormatError(f"{what} is not a readable zip archive ({exc})") from exc
    if len(infos) > MAX_MEMBERS:
        raise FormatError(f"{what} has {len(infos)} members, more than the limit of {MAX_MEMBERS}")
    names = [safe_member_name(i.filename) for i in infos]  # refuse traversal before extracting anything
    if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
        raise FormatError(f"{what} would expand beyond {MAX_UNCOMPRESSED} bytes (zip bomb?); refused")
    out: dict[str, bytes] = {}
    total = 0
    for info, name in zip(infos, names, strict=True):
        if info.is_dir():
            continue
        limit = max(_RATIO_FLOOR, info.compress_size * MAX_RATIO)
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as member:
                while chunk := member.read(1 << 20):
                    size += len(chunk)
                    total += len(chunk)
                    if size > limit or total > MAX_UNCOMPRESSED:
                        raise FormatError(
                            f"{what}: member {name!r} expands beyond the size/ratio limit (zip bomb?); refused"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
            raise FormatError(f"{what}: member {name!r} is damaged or truncated ({exc})") from exc
        out[name] = b"".join(chunks)
    return out


def write_zip(files: dict[str, bytes]) -> bytes:
    """A deflated zip archive of the given members (paths use '/')."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buf.getvalue()
