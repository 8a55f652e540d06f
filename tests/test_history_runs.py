"""Appends find their run by run id in the statements that read and create its series: the
right run, and ``RunNotFound`` with nothing written when there is none (both dialects)."""

from __future__ import annotations

import pytest

from mangodb import RunNotFound, RunRepository


@pytest.mark.parametrize("data", [{"loss": ([0, 1], [0.5, 0.25])}, {}, []])
def test_appending_to_a_missing_run_raises_and_writes_nothing(
    repo: RunRepository, data: object
) -> None:
    repo.insert_run(run_id="other")
    repo.append_history("other", {"loss": ([0], [1.0])})
    with pytest.raises(RunNotFound):
        repo.append_history("missing", data)
    assert repo.history_keys("other") == {"loss": 1}
    repo.insert_run(run_id="missing")
    assert repo.history_keys("missing") == {}


def test_runs_sharing_keys_keep_their_own_series(repo: RunRepository) -> None:
    for run_id in ("a", "b"):
        repo.insert_run(run_id=run_id)
    repo.append_history("a", {"loss": ([0, 1], [1.0, 2.0]), "acc": ([0], [0.1])})
    result = repo.append_history("b", {"loss": ([5], [9.0]), "lr": ([0, 1], [1e-3, 1e-4])})
    assert (result.written, result.keys) == (3, ("loss", "lr"))
    result = repo.append_history("a", {"loss": ([1, 2], [2.0, 3.0]), "lr": ([7], [0.5])})
    assert (result.written, result.unchanged) == (2, 1)
    a, b = repo.get_history("a"), repo.get_history("b")
    assert (a["loss"].steps, a["loss"].values) == ([0, 1, 2], [1.0, 2.0, 3.0])
    assert (a["lr"].steps, a["acc"].values) == ([7], [0.1])
    assert (b["loss"].steps, b["loss"].values, b["lr"].values) == ([5], [9.0], [1e-3, 1e-4])
    assert repo.history_keys("b") == {"loss": 1, "lr": 2}
