"""What every part of ``RunRepository`` shares: the engine, its units of work and who writes."""

from __future__ import annotations

import socket

from sqlalchemy import Engine

from mangodb.db.units import UnitsOfWork
from mangodb.runs import lifecycle


class Boundary:
    """The state behind every public method: ``_read``/``_write`` run a function of a session
    as one unit of work (its own transaction, retried on SQLite's busy, errors translated)."""

    def __init__(self, engine: Engine, *, source: str | None = None) -> None:
        self.engine = engine
        units = UnitsOfWork(engine)
        self._read, self._write = units.read, units.write
        self.source = source
        self.host = socket.gethostname()

    @property
    def _actor(self) -> lifecycle.Actor:
        """Who the events of this repository's writes name (source and host may be set)."""
        return lifecycle.Actor(self.source, self.host)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
