"""A burst of runs on the distributed deployment: the pipeline, its no-op twin, and what is measured.

Shared by the load test (``test_journeys.py``, a reduced count) and ``benchmarks/load.py`` (the full one).
The pipeline has 5 steps (``a -> b -> c -> e``, ``a -> d -> e``); step ``a`` takes the ``seed`` parameter,
so runs with the same seed share every fingerprint and runs with different seeds share none. Each
distinct (step, seed) must execute exactly once however many runs ask for it at the same time.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.cli import STUB_TEMPLATE

if TYPE_CHECKING:
    from tests.deploy.cluster import DistributedAirflow

PIPELINE = "load_five"
NOOP = "load_noop"
STEPS = ("a", "b", "c", "d", "e")
UPSTREAM: dict[str, tuple[str, ...]] = {"a": (), "b": ("a",), "c": ("b",), "d": ("a",), "e": ("c", "d")}

DEFINITION = """\
name: load_five
parameters:
  seed: {type: integer, default: 0}
defaults: {source_directory: src/load}
steps:
  - {name: a, script: step.py, arguments: [a, {parameter: seed}, {output: a_out}], outputs: [a_out]}
  - {name: b, script: step.py, arguments: [b, {input: a_out}, {output: b_out}], outputs: [b_out]}
  - {name: c, script: step.py, arguments: [c, {input: b_out}, {output: c_out}], outputs: [c_out]}
  - {name: d, script: step.py, arguments: [d, {input: a_out}, {output: d_out}], outputs: [d_out]}
  - name: e
    script: step.py
    arguments: [e, {input: c_out}, {input: d_out}, {output: e_out}]
    outputs: [e_out]
"""
STEP_SCRIPT = """\
import os, sys
name, *sources, out = sys.argv[1:]
parts = []
for source in sources:
    data = os.path.join(source, "data.txt")
    parts.append(open(data).read() if os.path.isfile(data) else f"seed{source}")
open(os.path.join(out, "data.txt"), "w").write(name + "(" + ",".join(parts) + ")")
"""
NOOP_DAG = """\
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("load_noop", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False) as dag:
    a, b, c, d, e = (PythonOperator(task_id=name, python_callable=lambda: None) for name in "abcde")
    a >> b >> c >> e
    a >> d >> e
"""


def expected_result(seed: int) -> str:
    """What step ``e`` writes for ``seed``."""
    a = f"a(seed{seed})"
    return f"e(c(b({a})),d({a}))"


def write_dags(dags: Path) -> None:
    """Put the pipeline (definition, script, stub) and its no-op twin into the DAGs folder ``dags``."""
    source = dags / "definitions" / "src" / "load"
    source.mkdir(parents=True, exist_ok=True)
    (source / "step.py").write_text(STEP_SCRIPT)
    (dags / "definitions" / f"{PIPELINE}.yaml").write_text(DEFINITION)
    (dags / f"{PIPELINE}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/{PIPELINE}.yaml"))
    (dags / f"{NOOP}.py").write_text(NOOP_DAG)


@dataclass
class Burst:
    """The runs of one burst and when it was triggered and drained (``time.monotonic()``)."""

    dag_id: str
    run_ids: list[str]
    seeds: list[int]
    triggered_in: float
    drained_in: float
    states: list[str]


def burst(airflow: DistributedAirflow, dag_id: str, seeds: list[int], timeout: float) -> Burst:
    """Trigger one run per seed as fast as the REST API takes them, then wait until all have finished."""
    began = time.monotonic()
    run_ids = []
    for seed in seeds:
        response = airflow.trigger(dag_id, conf={"seed": seed} if dag_id == PIPELINE else {})
        response.raise_for_status()
        run_ids.append(response.json()["dag_run_id"])
    triggered = time.monotonic() - began
    states = [airflow.wait_for_run(dag_id, run_id, timeout=timeout)["state"] for run_id in run_ids]
    return Burst(dag_id, run_ids, list(seeds), triggered, time.monotonic() - began, states)


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def latencies(airflow: DistributedAirflow, result: Burst) -> list[float]:
    """Seconds from when each task instance that ran could start (its upstream tasks ended, or the run
    started) to when it started: what the scheduler and the executor add to every task."""
    found = []
    for run_id in result.run_ids:
        run = airflow.get(f"/api/v2/dags/{result.dag_id}/dagRuns/{run_id}").json()
        tis = {
            t["task_id"]: t
            for t in airflow.all(
                f"/api/v2/dags/{result.dag_id}/dagRuns/{run_id}/taskInstances", "task_instances"
            )
        }
        for task_id, ti in tis.items():
            started = _when(ti.get("start_date"))
            if started is None or ti.get("state") != "success":
                continue
            ups = _upstream(result.dag_id, task_id)
            ends = [_when(tis[u].get("end_date")) for u in ups if u in tis]
            ready = max([e for e in ends if e is not None], default=None) if ups else _when(run["start_date"])
            if ready is not None:
                found.append(max(0.0, (started - ready).total_seconds()))
    return found


def _upstream(dag_id: str, task_id: str) -> tuple[str, ...]:
    if dag_id == NOOP:
        return UPSTREAM[task_id]
    step, task = task_id.split(".")
    if task == "run":
        return (f"{step}.reuse",)
    return tuple(f"{up}.run" for up in UPSTREAM[step])


def executions(airflow: DistributedAirflow, result: Burst) -> Counter[tuple[str, int]]:
    """How often each (step, seed) was computed (its ``.run`` task succeeded rather than skipped)."""
    done: Counter[tuple[str, int]] = Counter()
    for run_id, seed in zip(result.run_ids, result.seeds, strict=True):
        states = airflow.task_instances(result.dag_id, run_id)
        for step in STEPS:
            if states.get(f"{step}.run") == "success":
                done[(step, seed)] += 1
    return done


def results(airflow: DistributedAirflow, result: Burst, bucket: str) -> dict[str, str]:
    """Run id -> the text step ``e`` wrote for it (through the outputs its plan points at)."""
    found = {}
    for run_id in result.run_ids:
        path = f"/api/v2/dags/{result.dag_id}/dagRuns/{run_id}/taskInstances/e.reuse/xcomEntries/mlp_plan"
        value: Any = airflow.get(path).json()["value"]
        plan = json.loads(value) if isinstance(value, str) else value
        key = plan["outputs"]["e_out"].split(f"@{bucket}/", 1)[1] + "/data.txt"
        found[run_id] = airflow.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return found


def open_leases(airflow: DistributedAirflow, bucket: str, prefix: str) -> list[str]:
    """Lease records under ``prefix`` that were never released."""
    left = []
    for key in airflow.s3_keys(prefix):
        if key.endswith("lease.json"):
            record = json.loads(airflow.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if record.get("released") is not True:
                left.append(key)
    return left


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
