"""Metric history: one series per (run, key), stored as packed chunks.

``to_columns`` normalises the input forms, ``append`` writes them on a session (O(new points)
in order, merged in order otherwise), ``read``/``read_many`` read a run's keys or one key of
many runs in one query (downsampled on request), ``summaries`` the stored summaries of a run's
series (exact counts, ranges, last values, extremes), ``HistoryWriter`` buffers a training
loop's rows.
"""

from __future__ import annotations

from mangodb.history.columns import to_columns
from mangodb.history.reads import key_counts, read, read_many, summaries
from mangodb.history.series import AppendResult, Series, SeriesSummary, to_dataframe
from mangodb.history.store import append, append_legacy
from mangodb.history.writer import HistoryWriter

__all__ = [
    "AppendResult",
    "HistoryWriter",
    "Series",
    "SeriesSummary",
    "append",
    "append_legacy",
    "key_counts",
    "read",
    "read_many",
    "summaries",
    "to_columns",
    "to_dataframe",
]
