"""Our own reader of W&B's ``run-<id>.wandb`` transaction log (wandb 0.31 has none in Python).

The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of chunks
``crc32 (uint32 le) | length (uint16 le) | type (uint8) | data``; FULL chunks hold a whole
record, FIRST/MIDDLE/LAST split one. Each record is a ``wandb_internal_pb2.Record``. A process
killed mid-write leaves a torn tail: the reader stops at the first chunk that is incomplete or
fails its CRC and returns everything before it (``RunLog.torn`` says so). It never raises on a
truncated file; only a file that is not a W&B log at all is rejected.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mangodb.errors import ValidationError
from mangodb.integrations.wandb.extra import record_class
from mangodb.integrations.wandb.keys import STEP_KEY, flatten, remove_path, set_path

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_CRC_SEED = {kind: zlib.crc32(bytes([kind])) for kind in (FULL, FIRST, MIDDLE, LAST)}
_PROGRESS_EVERY = 1 << 20  # report progress about once per MiB


@dataclass
class Framing:
    """Where framing stopped: ``end`` is the offset after the last complete record."""

    end: int = 0
    size: int = 0

    @property
    def torn(self) -> bool:
        return self.end < self.size


def iter_payloads(
    data: bytes, framing: Framing | None = None, on_progress: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """Yield each complete record payload of a whole ``.wandb`` file's bytes."""
    framing = framing if framing is not None else Framing()
    size = framing.size = len(data)
    if data[: len(HEADER)] != HEADER[: min(size, len(HEADER))]:
        raise ValidationError(f"not a W&B transaction log (header {data[:7]!r})")
    pos = framing.end = min(size, len(HEADER))
    pending: bytearray | None = None
    reported = 0
    while pos < size:
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # block trailer: zero padding
            pos += left
            continue
        if pos + CHUNK_HEADER > size:
            return
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0:  # zero-filled rest of a block
            pos += left
            continue
        end = pos + CHUNK_HEADER + length
        if end > size:
            return
        chunk = data[pos + CHUNK_HEADER : end]
        if kind not in _CRC_SEED or zlib.crc32(chunk, _CRC_SEED[kind]) != crc:
            return  # torn or corrupt: everything after is unreliable
        pos = end
        if kind == FULL:
            pending = None
            payload: bytes | None = chunk
        elif kind == FIRST:
            pending, payload = bytearray(chunk), None
        elif pending is not None:
            pending += chunk
            payload = None
            if kind == LAST:
                payload, pending = bytes(pending), None
        else:  # a MIDDLE/LAST without its FIRST: skip it
            payload = None
        if payload is not None:
            framing.end = pos
            if on_progress is not None and pos - reported >= _PROGRESS_EVERY:
                on_progress(pos - reported)
                reported = pos
            yield payload
    if on_progress is not None and framing.end > reported:
        on_progress(framing.end - reported)


@dataclass
class HistoryRow:
    step: int
    values: dict[str, Any]  # flat keys (see ``keys.flatten``), without ``_step``


@dataclass
class RunLog:
    """Everything a ``.wandb`` file says about one run."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryRow] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    has_exit: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    framing: Framing = field(default_factory=Framing)

    @property
    def torn(self) -> bool:
        return self.framing.torn

    @property
    def points(self) -> int:
        return sum(len(row.values) for row in self.history)


def item_value(item: Any) -> Any:
    """The value of a history/summary/config item (its JSON, or the typed field)."""
    if item.value_json:
        return json.loads(item.value_json)
    kind = item.WhichOneof("value") if item.DESCRIPTOR.oneofs_by_name.get("value") else None
    if kind is None or kind == "none":
        return None
    if kind == "json":
        return json.loads(item.json)
    return getattr(item, kind)


def _path(item: Any) -> tuple[str, ...]:
    nested = item.nested_key
    return tuple(nested) if nested else (item.key,)


def _history_row(record: Any) -> HistoryRow:
    items = record.history.item
    if all(item.value_json for item in items):  # one json.loads per row, not per value
        values = json.loads("[" + ",".join(item.value_json for item in items) + "]")
    else:
        values = [item_value(item) for item in items]
    row: dict[str, Any] = {}
    nested = False
    for item, value in zip(items, values, strict=True):
        path = _path(item)
        if len(path) == 1:
            row[path[0]] = value
        else:
            set_path(row, list(path), value)
            nested = True
    flat = flatten(row) if nested else row
    step = flat.pop(STEP_KEY, None)
    if not isinstance(step, int):
        step = int(record.history.step.num)
    return HistoryRow(step=step, values=flat)


_REMOVED = object()


class _Replay:
    """Summary/config deltas reduced to the last write per path, in last-write order: the
    same final document as replaying every delta, but each value is decoded once (a summary
    gets a delta of every logged key at every step)."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, ...], Any] = {}

    def apply(self, updates: Any, removes: Any) -> None:
        latest = self.latest
        for item in updates:
            path = _path(item)
            latest.pop(path, None)
            latest[path] = item
        for item in removes:
            path = _path(item)
            latest.pop(path, None)
            latest[path] = _REMOVED

    def result(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for path, item in self.latest.items():
            if item is _REMOVED:
                remove_path(document, list(path))
            else:
                set_path(document, list(path), item_value(item))
        document.pop("_wandb", None)
        return document


def _run_info(record: Any) -> dict[str, Any]:
    run = record.run
    start = None
    if run.HasField("start_time"):
        start = run.start_time.ToDatetime().replace(tzinfo=dt.timezone.utc)
    return {
        "run_id": run.run_id,
        "entity": run.entity or None,
        "project": run.project or None,
        "display_name": run.display_name or None,
        "group": run.run_group or None,
        "job_type": run.job_type or None,
        "tags": list(run.tags),
        "notes": run.notes or None,
        "host": run.host or None,
        "start_time": start,
        "starting_step": int(run.starting_step),
    }


def read_run_log(path: str | Path, *, on_progress: Callable[[int], None] | None = None) -> RunLog:
    """Read a ``.wandb`` file: run identity, committed history rows, final summary and config
    (with their later updates replayed), and the exit record if the process wrote one."""
    source = Path(path)
    data = source.read_bytes()
    log = RunLog(path=source)
    record_type = record_class()
    summary, config = _Replay(), _Replay()
    for payload in iter_payloads(data, log.framing, on_progress):
        record = record_type()
        try:
            record.ParseFromString(payload)
        except Exception:  # a CRC-valid but unparsable record: treat as the end
            log.framing.end = min(log.framing.end, log.framing.size)
            break
        kind = record.WhichOneof("record_type")
        log.counts[kind] = log.counts.get(kind, 0) + 1
        if kind == "history":
            log.history.append(_history_row(record))
        elif kind == "summary":
            summary.apply(record.summary.update, record.summary.remove)
        elif kind == "config":
            config.apply(record.config.update, record.config.remove)
        elif kind == "run":
            log.run = _run_info(record)
            config.apply(record.run.config.update, record.run.config.remove)
            summary.apply(record.run.summary.update, record.run.summary.remove)
        elif kind == "exit":
            log.has_exit = True
            log.exit_code = int(record.exit.exit_code)
    log.summary, log.config = summary.result(), config.result()
    return log
