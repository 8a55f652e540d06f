"""The run query language (implementation in progress)."""

from __future__ import annotations

from mangodb.filters import Filter


def parse(text: str) -> Filter:
    raise NotImplementedError
