"""A page of runs reads only the child tables some run of the page has rows in: the runs read
back in a page equal the runs read one by one, whichever child tables are empty for the page."""

from __future__ import annotations

from mangodb import ObjectiveCreate, RunCreate, RunRepository, RunStatus


def test_page_equals_single_reads_whichever_children_exist(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="bare"))
    assert list(repo.query_runs_page(limit=5).items) == [repo.get_run("bare")]
    repo.insert_run(
        RunCreate(run_id="full", objectives=[ObjectiveCreate(name="hop")], tags=["a", "b"])
    )
    repo.update_run_status("full", RunStatus.RUNNING)
    repo.update_run_status("full", RunStatus.CRASHED, final_metrics={"loss": 0.5})
    repo.attach_crash_data("full", error_type="OOM", message="out of memory")
    repo.attach_conversation("full", "s3://bucket/chat.json", title="chat")
    repo.insert_run(RunCreate(run_id="tagged", tags=["c"]))
    page = repo.query_runs_page(limit=10, order_by="run_id")
    assert list(page.items) == [repo.get_run(r) for r in ("bare", "full", "tagged")]
    full = repo.get_run("full")
    assert full.tags == ("a", "b") and len(full.crash_reports) == 1 and len(full.attachments) == 1
    # A page whose runs have no rows in some child tables: those are empty, not missing.
    only_bare = repo.query_runs_page(limit=10, name_prefix="bare")
    assert list(only_bare.items) == [repo.get_run("bare")]
    assert only_bare.items[0].tags == () and only_bare.items[0].events
