"""Metric history: packed chunks per (run, key). (Interface; implementation in progress.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


class Series:  # placeholder until the history engine lands
    pass


class AppendResult:
    pass


class HistoryWriter:
    def __init__(self, repo: Any, run_id: str, *, flush_every: int, flush_seconds: float) -> None:
        raise NotImplementedError


def to_columns(data: Any) -> Any:
    raise NotImplementedError


def append(session: Session, run_pk: int, columns: Any) -> AppendResult:
    raise NotImplementedError


def append_legacy(session: Session, run_pk: int, history: Any) -> None:
    raise NotImplementedError


def read(session: Session, run_pk: int, **kwargs: Any) -> dict[str, Series]:
    raise NotImplementedError


def read_many(session: Session, run_ids: list[str], key: str, **kwargs: Any) -> dict[str, Series]:
    raise NotImplementedError
