"""Units of work: a session per call, committed or rolled back, its driver errors translated.

Reads run on the engine as it is (or, for one statement, on an engine that needs no
transaction of its own on PostgreSQL); writes on the write engine (``BEGIN IMMEDIATE`` on
SQLite) and are retried, bounded, while the database is busy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from mangodb.db.engine import single_statement_engine, write_engine
from mangodb.db.translate import translate
from mangodb.errors import DatabaseBusy

T = TypeVar("T")


def _roll_back(session: Session) -> None:
    """Roll back after a failure; a connection lost meanwhile (the server went away) fails the
    rollback too, which must not replace the error being raised (the pool discards it)."""
    with contextlib.suppress(SQLAlchemyError):
        session.rollback()


class UnitsOfWork:
    """Opens the sessions of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_engine = write_engine(engine)
        self._single_statement_engine = single_statement_engine(engine)

    @contextmanager
    def session(self, *, write: bool, single_statement: bool = False) -> Iterator[Session]:
        if write:
            bind = self._write_engine
        else:
            bind = self._single_statement_engine if single_statement else self.engine
        session = Session(
            bind=bind,
            expire_on_commit=False,
            autoflush=write,
        )
        try:
            yield session
            if write:
                session.commit()
        except SQLAlchemyError as error:
            _roll_back(session)
            raise translate(error, self.engine.url) from error
        except BaseException:
            _roll_back(session)
            raise
        finally:
            session.close()

    def read(self, work: Callable[[Session], T], *, single_statement: bool = False) -> T:
        """Run ``work`` in a read-only unit of work; ``single_statement``: ``work`` executes
        one statement (on PostgreSQL it then needs no transaction of its own)."""
        with self.session(write=False, single_statement=single_statement) as session:
            return work(session)

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, retried (bounded) while the database is busy."""
        try:  # the common case, without building a retry controller for every write
            with self.session(write=True) as session:
                return work(session)
        except DatabaseBusy:
            pass
        for attempt in Retrying(
            retry=retry_if_exception_type(DatabaseBusy),
            stop=stop_after_attempt(4),  # after the first attempt above
            wait=wait_random_exponential(multiplier=0.05, max=2.0),
            reraise=True,
        ):
            with attempt, self.session(write=True) as session:
                return work(session)
        raise AssertionError("unreachable")  # pragma: no cover
