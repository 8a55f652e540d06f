"""Waiting for another process (wandb-core, a subprocess, a background thread) in tests.

A wait that runs out fails right there, naming what it waited for; it never returns quietly
so that a later assertion fails for a reason that is not the real one. The bound only stops a
hung test; it is not a timing assertion."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(
    condition: Callable[[], object], what: str, seconds: float = 60.0, interval: float = 0.1
) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds:g} s waiting for {what}", pytrace=False)
        time.sleep(interval)
