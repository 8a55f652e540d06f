"""Jinja2 templates shared by the server and ``mangodb report``. Autoescaping is on for every
template: a run id, config value, tag or crash message is always text, never markup."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mangodb.ui.views import duration

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Scripts and styles of every page, in order; the report inlines the same files.
STYLES = ("vendor/uplot/uPlot.min.css", "app.css")
SCRIPTS = ("vendor/uplot/uPlot.iife.min.js", "charts.js", "pages.js")


class JSONBody(Response):
    """JSON through orjson (several times faster than ``json`` on long lists of floats; a NaN
    never reaches it: the views turn non-finite numbers into null or text first)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _cell(value: Any) -> str:
    """A table cell: short numbers, ISO times without microseconds, yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return value[:19].replace("T", " ")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    return _cell(value)


def _pretty(value: Any) -> str:
    """Indented JSON as text (autoescaped where it is shown)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _path(value: str) -> str:
    """A run id as a URL path segment (``/`` kept: the route takes a path)."""
    return quote(value, safe="/")


def _inline_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` escaped as
    unicode escapes so no value can close the script element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _inline_asset(name: str) -> Markup:
    """A static file's text for inlining in ``<style>`` or ``<script>`` (the report)."""
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} cannot be inlined: it contains a closing tag")
    return Markup(text)


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    cell=_cell, when=_when, pretty=_pretty, path=_path, inline_json=_inline_json, duration=duration
)
environment.globals.update(STYLES=STYLES, SCRIPTS=SCRIPTS, inline_asset=_inline_asset)


def render(request: Any, template: str, **context: Any) -> str:
    """Render a page of the server (``request`` given) or of the report (``request`` None:
    styles and scripts inlined, no link back to a server)."""
    nav = None if request is None else request.url.path
    return environment.get_template(template).render(
        inline=request is None, nav=nav, **context
    )
