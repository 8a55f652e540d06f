"""Weights & Biases integration: live mirroring of a run (:func:`track`), import of local run
directories (:func:`import_run`), and cloud backfill (:func:`backfill`).

``wandb`` is imported lazily inside the functions that need it; importing this package is
cheap. Tested with wandb 0.31 (the ``.wandb`` file format is internal to W&B).
"""

from __future__ import annotations

from mangodb.integrations.wandb.backfill import backfill, write_payload
from mangodb.integrations.wandb.importer import ImportResult, find_run_logs, import_run
from mangodb.integrations.wandb.logfile import RunLog, read_run_log
from mangodb.integrations.wandb.states import status_for_exit, status_for_state
from mangodb.integrations.wandb.track import Tracker, track

__all__ = [
    "ImportResult",
    "RunLog",
    "Tracker",
    "backfill",
    "find_run_logs",
    "import_run",
    "read_run_log",
    "status_for_exit",
    "status_for_state",
    "track",
    "write_payload",
]
