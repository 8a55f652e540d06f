"""Runs inside a unit of work, one module per concern, each a set of functions that take a
session: ``planning`` (criteria -> typed ``filters`` -> statements, pages, counts),
``loading`` (a page's runs with their child rows), ``assembly`` (rows -> DTOs), ``lookup``
(find a run), ``inserts`` (new runs, one or in bulk), ``writes`` (update, tag, delete),
``lifecycle`` (status changes, heartbeats, reaping), ``objectives``, ``crash_reports`` (and
attachments), ``analysis`` (method comparisons). ``RunRepository`` opens the units of work
and calls these."""
