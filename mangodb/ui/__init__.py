"""``mangodb ui`` and ``mangodb report``: a read-only web interface to the runs and a
self-contained HTML report (docs/ui.md). Needs the ``ui`` extra (FastAPI, uvicorn, Jinja2)."""

from __future__ import annotations

from mangodb.ui.app import create_app
from mangodb.ui.report import write_report

__all__ = ["create_app", "write_report"]
