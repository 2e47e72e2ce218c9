"""Item content: sanitised rich text with TeX rendered to MathML on the server (no CDN, works offline)."""

from __future__ import annotations

import functools
import html
import re

import nh3
from latex2mathml.converter import convert as latex_to_mathml

_MATHML_TAGS = {
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle", "merror",
    "mpadded", "mphantom", "mfenced", "menclose", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mmultiscripts", "mtable", "mtr", "mtd", "semantics", "annotation", "mprescripts", "none",
}  # fmt: skip
_HTML_TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "s", "sub", "sup", "span", "div", "ul", "ol", "li", "table", "thead",
    "tbody", "tr", "th", "td", "img", "pre", "code", "blockquote", "h3", "h4", "hr", "figure", "figcaption",
}  # fmt: skip
_ATTRIBUTES = {
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "math": {"display", "xmlns"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mtable": {"columnalign", "rowspacing", "columnspacing"},
    "mfrac": {"linethickness"},
    "annotation": {"encoding"},
    "mspace": {"width"},
    "span": {"class"},
}
# Item images are served by the app or embedded; never hot-linked from other hosts. `asset:NAME` is how an
# imported file refers to a media file carried with the item (itembank.formats); the importer rewrites it.
_URL_SCHEMES = {"data", "asset"}

_TEX = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)


def sanitize_html(raw: str) -> str:
    """Allow-list sanitising (ammonia via nh3): no scripts, handlers, styles or foreign URLs survive."""
    return nh3.clean(
        raw,
        tags=_HTML_TAGS | _MATHML_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def render_math(text: str) -> str:
    """Replace TeX delimited by \\( \\), \\[ \\] or $$ $$ with MathML; a formula that fails stays as visible TeX."""

    def replace(match: re.Match[str]) -> str:
        display = match.group(1) is not None or match.group(2) is not None
        tex = html.unescape(next(g for g in match.groups() if g is not None))
        try:
            mathml = latex_to_mathml(tex, display="block" if display else "inline")
        except Exception:  # latex2mathml raises many types for malformed input; show the source instead
            return html.escape(match.group(0))
        return mathml

    return _TEX.sub(replace, text)


@functools.lru_cache(maxsize=8192)
def render_content(raw: str) -> str:
    """Stored stem/option HTML as a student sees it: math rendered, then sanitised (MathML allowed).

    Cached: the same frozen paper is rendered for every student who starts or resumes an exam.
    """
    return sanitize_html(render_math(raw))


def plain_text(raw: str, limit: int | None = None) -> str:
    """Text without markup, for lists, search and reports."""
    text = re.sub(r"\s+", " ", html.unescape(nh3.clean(raw, tags=set()))).strip()
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
