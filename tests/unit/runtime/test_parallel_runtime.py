"""A parallel run's runtime without Airflow (``runtime/parallel.py``): the partition and the mini-batch
digests, one mini-batch in its child process (rows, failures, time limit, reuse and its checks), the
failure limits and the gather."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
from airflow_mlpipelines.pipeline.model import ParallelRunSpec
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime import parallel, parallel_batch, parallel_partition
from airflow_mlpipelines.runtime.kinds.parallel_run import KIND
from airflow_mlpipelines.runtime.plan import LeaseSpec, Origin, StepPlan
from airflow_mlpipelines.runtime.runner import RunnerIO
from airflow_mlpipelines.storage import FsspecStorage

SCRIPT = """\
import os, sys, time
def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    if "slow.txt" in names:
        time.sleep(30)
    if "bad.txt" in names:
        raise RuntimeError("bad file")
    return [n for n in names if n != "drop.txt"]
"""


def _plan(tmp_path: Path, *, kind: str = "file", **settings: object) -> StepPlan:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "score.py").write_text(SCRIPT)
    spec = ParallelRunSpec(entry_script="score.py", input="data", output="out", run_max_try=1, **settings)  # type: ignore[arg-type]
    task = StepTask(
        pipeline="p",
        step="s",
        kind="parallel_run",
        script_name="score.py",
        source_directory=str(src),
        target=ComputeTargetSpec("local"),
        inputs=(InputBinding("data", path=str(tmp_path / "data"), kind=kind),),
        outputs=(OutputBinding("out", "workspaceblobstore"),),
        parallel=spec,
    )
    components, _ = KIND.components(task, None)  # type: ignore[arg-type]
    fp = Fingerprint({"step": "s", "input:data": "d", **components})
    manifest = str(tmp_path / "root" / "_manifests" / "p" / "s" / fp.short)
    return StepPlan(
        task=task,
        decision="run",
        dag_id="p",
        run_id="r1",
        fingerprint=fp,
        manifest=manifest,
        produced_by=Origin("p", "r1", "s.run"),
        inputs={"data": str(tmp_path / "data")},
        outputs={"out": str(tmp_path / "outputs" / "out")},
        source_directory=str(src),
        lease=LeaseSpec(manifest, "p/r1", 60),
    )


def _files(tmp_path: Path, names: list[str]) -> None:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name in names:
        (data / name).write_text(name)


def _io(said: list[str]) -> RunnerIO:
    return RunnerIO(say=said.append, on_stdout=said.append, on_stderr=said.append, python=sys.executable)


def _partition(plan: StepPlan, tmp_path: Path) -> list[parallel.MiniBatch]:
    from airflow_mlpipelines.digests import file_digest

    return parallel_partition.partition(
        plan, FsspecStorage(), str(tmp_path / "root" / "_parallel"), lambda loc: file_digest(loc.path)
    )


def test_files_are_cut_in_order_and_a_change_changes_one_digest(tmp_path: Path) -> None:
    _files(tmp_path, [f"f{i}.txt" for i in range(7)] + [".hidden", "_SUCCESS"])
    plan = _plan(tmp_path, mini_batch_size=3)
    batches = _partition(plan, tmp_path)
    assert [b.items for b in batches] == [
        ("f0.txt", "f1.txt", "f2.txt"),
        ("f3.txt", "f4.txt", "f5.txt"),
        ("f6.txt",),
    ]
    (tmp_path / "data" / "f4.txt").write_text("changed")
    again = _partition(plan, tmp_path)
    assert [a.digest == b.digest for a, b in zip(batches, again, strict=True)] == [True, False, True]
    # A result rule is not part of a mini-batch's digest; what run() sees is.
    stricter = replace(plan, task=replace(plan.task, parallel=replace(plan.task.parallel, error_threshold=0)))  # type: ignore[arg-type]
    assert [b.digest for b in _partition(stricter, tmp_path)] == [b.digest for b in again]
    timeout = replace(plan, fingerprint=Fingerprint({**plan.fingerprint.components, "parallel": "other"}))
    assert all(a.digest != b.digest for a, b in zip(_partition(timeout, tmp_path), again, strict=True))


def test_csv_is_cut_at_line_ends_into_ranges_of_about_the_size(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = ["id,text"] + [f"{i},{'x' * 10}" for i in range(40)]
    (data / "rows.csv").write_text("\n".join(lines) + "\n")
    plan = _plan(tmp_path, kind="tabular", mini_batch_size=100)
    batches = _partition(plan, tmp_path)
    assert len(batches) > 3
    assert sum(b.rows or 0 for b in batches) == 40
    raw = (data / "rows.csv").read_bytes()
    for b in batches:
        assert b.start is not None
        assert b.end is not None
        assert raw[b.start - 1 : b.start] == b"\n"  # every range starts after a line end...
        assert raw[b.end - 1 : b.end] == b"\n"  # ...and ends with one
        assert b.end - b.start < 100 + 20


def test_a_mini_batch_runs_is_stored_and_reused(tmp_path: Path) -> None:
    _files(tmp_path, ["a.txt", "drop.txt", "c.txt"])
    plan = _plan(tmp_path, mini_batch_size=3)
    (batch,) = _partition(plan, tmp_path)
    said: list[str] = []
    result = parallel_batch.run_batch(plan, batch, FsspecStorage(), _io(said))
    # run() returned 2 rows for 3 files: the missing one is a failed item, and nothing is committed.
    assert (result.items, result.succeeded, result.failed, result.reused) == (3, 2, 1, False)
    assert Path(result.rows_url).read_text().splitlines() == ["a.txt", "c.txt"]
    assert not (Path(batch.url) / "manifest.json").exists()

    (tmp_path / "data" / "drop.txt").rename(tmp_path / "data" / "b.txt")
    (batch,) = _partition(plan, tmp_path)
    first = parallel_batch.run_batch(plan, batch, FsspecStorage(), _io(said))
    assert (first.failed, first.reused) == (0, False)
    manifest = json.loads((Path(batch.url) / "manifest.json").read_text())
    assert manifest["digest"] == batch.digest
    second = parallel_batch.run_batch(plan, batch, FsspecStorage(), _io(said))
    assert (second.succeeded, second.reused) == (3, True)
    # Stored rows that no longer match their manifest are not reused: the mini-batch runs again.
    (Path(batch.url) / "rows.txt").write_text("tampered\n")
    third = parallel_batch.run_batch(plan, batch, FsspecStorage(), _io(said))
    assert third.reused is False
    assert Path(third.rows_url).read_text().splitlines() == ["a.txt", "b.txt", "c.txt"]


def test_raising_and_too_slow_mini_batches_fail_all_their_items(tmp_path: Path) -> None:
    _files(tmp_path, ["bad.txt", "ok.txt", "slow.txt", "z.txt"])
    plan = _plan(tmp_path, mini_batch_size=2, run_invocation_timeout=2)
    raised, slow = _partition(plan, tmp_path)
    said: list[str] = []
    result = parallel_batch.run_batch(plan, raised, FsspecStorage(), _io(said))
    assert (result.failed, result.error) == (2, "RuntimeError: bad file")
    assert any("RuntimeError: bad file" in line for line in said)  # the traceback, in the log
    result = parallel_batch.run_batch(plan, slow, FsspecStorage(), _io(said))
    assert result.failed == 2
    assert "run_invocation_timeout (2s)" in result.error


def test_an_entry_script_without_run_fails_the_task(tmp_path: Path) -> None:
    _files(tmp_path, ["a.txt"])
    plan = _plan(tmp_path)
    (tmp_path / "src" / "score.py").write_text("def init():\n    pass\n")
    (batch,) = _partition(plan, tmp_path)
    with pytest.raises(StepExecutionError, match="has no run\\(mini_batch\\) function"):
        parallel_batch.run_batch(plan, batch, FsspecStorage(), _io([]))


def _result(index: int, items: int, failed: int) -> parallel.BatchResult:
    return parallel.BatchResult(index, items, items - failed, failed, "", "")


@pytest.mark.parametrize(
    ("settings", "failed", "expected"),
    [
        ({"error_threshold": -1}, [5, 5], None),
        ({"error_threshold": 10}, [5, 5], None),
        ({"error_threshold": 9}, [5, 5], "10 failed items exceed error_threshold 9"),
        ({"allowed_failed_count": 1}, [0, 5, 5], "2 failed mini-batches exceed allowed_failed_count 1"),
        ({"allowed_failed_percent": 50.0}, [0, 5], None),
        (
            {"allowed_failed_percent": 40.0},
            [0, 5],
            "50.0% failed mini-batches exceed allowed_failed_percent 40.0",
        ),
    ],
)
def test_failure_limits(settings: dict[str, object], failed: list[int], expected: str | None) -> None:
    spec = ParallelRunSpec(entry_script="s.py", input="i", output="o", **settings)  # type: ignore[arg-type]
    assert parallel.over_threshold(spec, [_result(i, 10, f) for i, f in enumerate(failed)]) == expected


def test_gather_appends_in_partition_order_and_releases_the_lease_on_failure(tmp_path: Path) -> None:
    from airflow_mlpipelines.reuse import lease

    _files(tmp_path, [f"f{i}.txt" for i in range(5)])
    plan = _plan(tmp_path, mini_batch_size=2, error_threshold=0)
    storage = FsspecStorage()
    batches = _partition(plan, tmp_path)
    Path(plan.manifest).mkdir(parents=True, exist_ok=True)
    assert lease.try_acquire(storage.resolve(plan.manifest), "p/r1", 60) is None
    results = [parallel_batch.run_batch(plan, b, storage, _io([])) for b in reversed(batches)]
    manifest = parallel.gather(plan, parallel.read_results(plan, batches, storage), storage, _io([])).manifest
    out = Path(manifest["outputs"]["out"]["url"])
    assert (out / "parallel_run_step.txt").read_text().splitlines() == [f"f{i}.txt" for i in range(5)]
    assert len(results) == 3

    (tmp_path / "data" / "f2.txt").write_text("x")
    (tmp_path / "data" / "bad.txt").write_text("x")
    # The next run: its input changed, so its fingerprint (and manifest folder) too.
    fp = Fingerprint({**plan.fingerprint.components, "input:data": "d2"})
    folder = plan.manifest.rsplit("/", 1)[0] + "/" + fp.short
    rerun = replace(plan, run_id="r2", fingerprint=fp, manifest=folder, lease=LeaseSpec(folder, "p/r2", 60))
    Path(rerun.manifest).mkdir(parents=True, exist_ok=True)
    assert lease.try_acquire(storage.resolve(rerun.manifest), "p/r2", 60) is None
    batches = _partition(rerun, tmp_path)
    for b in batches:
        parallel_batch.run_batch(rerun, b, storage, _io([]))
    with pytest.raises(StepExecutionError, match="2 failed items exceed error_threshold 0"):
        parallel.gather(rerun, parallel.read_results(rerun, batches, storage), storage, _io([]))
    # Released although the gather failed: another run takes the lease at once.
    assert lease.try_acquire(storage.resolve(rerun.manifest), "other", 60) is None


def test_an_empty_input_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(StepExecutionError, match=r"input 'data' at .* holds no files"):
        _partition(_plan(tmp_path), tmp_path)
    (tmp_path / "data" / "rows.csv").write_text("id,value\n")
    with pytest.raises(StepExecutionError, match="holds no rows"):
        _partition(_plan(tmp_path, kind="tabular"), tmp_path)
