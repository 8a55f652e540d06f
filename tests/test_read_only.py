"""``RunRepository.connect(url, read_only=True)``: the database itself refuses writes (SQLite
``mode=ro``, PostgreSQL read-only sessions); reads work; nothing is created or migrated."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from mangodb import DatabaseUnavailable, MangoDBError, RunCreate, RunRepository


def test_reads_work_and_writes_fail_in_the_database(db_url: URL) -> None:
    with RunRepository.connect(db_url) as writer:
        writer.insert_run(RunCreate(run_id="r1", gradient_method="mgda"))
        writer.append_history("r1", {"loss": ([0, 1], [1.0, 0.5])})
    with RunRepository.connect(db_url, read_only=True) as reader:
        assert reader.get_run("r1").gradient_method == "mgda"
        assert reader.count_runs(where="method = mgda") == 1
        assert reader.get_history("r1")["loss"].values == [1.0, 0.5]
        writes = [
            lambda: reader.insert_run(RunCreate(run_id="r2")),
            lambda: reader.update_run_status("r1", "running"),
            lambda: reader.append_history("r1", {"loss": ([2], [0.1])}),
            lambda: reader.set_tags("r1", add=["x"]),
            lambda: reader.delete_run("r1"),
        ]
        for write in writes:
            with pytest.raises(MangoDBError):
                write()
    with RunRepository.connect(db_url) as writer:
        run = writer.get_run("r1")
        assert run.status == "launched" and run.tags == ()
        assert writer.count_runs() == 1


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    with pytest.raises(DatabaseUnavailable, match="no mangodb database"):
        RunRepository.connect(str(missing), read_only=True)
    assert not missing.exists()
