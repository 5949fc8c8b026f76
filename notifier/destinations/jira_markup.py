"""Jira text rules that do not depend on HTTP: wiki-markup escaping, link targets, and length limits.

Kept free of Jinja2 and of the rest of the package so `render.Renderer` can register the escaping
filters (``jira_wiki``, ``jira_wiki_url``) without importing the Jira channel.

Escaping follows Atlassian's own wiki renderer (``BackslashEscapeRendererComponent``): a backslash
before one of ``! [ ] ^ ~ + ? % { } ( ) * _ - | @ #`` makes it literal. A backslash itself cannot be
escaped that way (``\\\\`` is a forced line break), so it becomes the entity ``&#92;``; ``&`` becomes
``&amp;`` so a value cannot smuggle in an entity either, and the ``:`` of ``scheme://`` becomes
``&#58;`` so a resource id cannot turn into a live link. Line breaks inside a value become spaces: at
the start of a line ``h1.`` or ``bq.`` would turn the rest of a resource id into a heading or quote.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Jira stores text fields as Java strings: its limits count UTF-16 code units, not code points.
MAX_TEXT_UNITS = 32_767  # description, comment body, any text area
MAX_SUMMARY_UNITS = 255

_WIKI_TOKEN = re.compile(r"://|[!\[\]^~+?%{}()*_\-|@#&\\]")
_LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Characters that would end or split a `[text|target]` link, or that no URL holds unencoded.
_URL_UNSAFE = re.compile(r"[\s\[\]|{}\\<>\"^`]")


def escape_wiki(value: object) -> str:
    """Any value as literal text inside Jira wiki markup (Data Center descriptions and comments)."""
    if value is None:
        return ""
    # One pass, so the backslashes and entities it writes are never escaped again.
    return _WIKI_TOKEN.sub(_escape_token, _LINE_BREAKS.sub(" ", str(value)))


def _escape_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token == "\\":
        return "&#92;"
    if token == "&":
        return "&amp;"
    if token == "://":
        return "&#58;//"  # the renderer turns scheme://... in text into a live link; a resource id must not
    return "\\" + token


def wiki_link_target(url: object) -> str:
    """A URL that can sit after the `|` of a wiki link without closing or splitting it."""
    return _URL_UNSAFE.sub(lambda match: quote(match.group(0), safe=""), str(url))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut_to_units(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units (never half of a surrogate pair)."""
    if utf16_units(text) <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def one_line(value: str, limit: int = MAX_SUMMARY_UNITS) -> str:
    """A summary Jira accepts: no line breaks or control characters, collapsed spaces, at most `limit` units."""
    flat = " ".join(_LINE_BREAKS.sub(" ", value).split())
    if utf16_units(flat) <= limit:
        return flat
    return cut_to_units(flat, limit - 1).rstrip() + "…"
