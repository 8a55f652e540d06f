"""The run query language: ``parse(text) -> Filter`` and ``to_text(filter) -> str``.

``status = crashed and method in (pcgrad, mgda) and config.data.batch_size >= 96
and created > 7d and metric.val/loss < 0.5`` compiles to the same typed filters as
``RunRepository.query_runs`` keywords; see docs/query-language.md for the reference.
"""

from __future__ import annotations

from mangodb.language.parser import parse
from mangodb.language.printer import to_text

__all__ = ["parse", "to_text"]
