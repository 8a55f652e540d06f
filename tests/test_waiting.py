"""The shared wait fails where it gives up, naming what it waited for."""

from __future__ import annotations

import pytest
from waiting import wait_for


def test_a_wait_that_runs_out_fails_naming_what_it_awaited() -> None:
    with pytest.raises(pytest.fail.Exception, match="waiting for the exit record"):
        wait_for(lambda: False, "the exit record", seconds=0.05, interval=0.01)


def test_a_wait_returns_once_the_condition_holds() -> None:
    calls = iter([False, False, True])
    wait_for(lambda: next(calls), "the third call", seconds=60, interval=0.001)
    assert next(calls, "exhausted") == "exhausted"
