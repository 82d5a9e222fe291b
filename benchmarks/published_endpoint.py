"""A published pipeline's endpoint vs Airflow's own trigger: what the Azure-ML-shaped route costs per run.

Run: ``.venv/bin/python benchmarks/published_endpoint.py [--runs 40]``

Starts ``airflow standalone`` (SQLite, LocalExecutor) on a one-step pipeline with two parameters,
publishes it through the plugin's JSON API, pauses the DAG (so the runs stay queued and only the trigger
is measured), then times, alternately, ``--runs`` POSTs of Azure ML's body to the published endpoint and
``--runs`` POSTs of the same parameters to ``POST /api/v2/dags/{dag_id}/dagRuns`` (the baseline, same
server, same token). The endpoint does more on purpose (the published record, the definition digest
check against the serialized DAG, the body's translation); the ratio says what that costs.

Prints the median and p90 latency of each and their ratio; exit status 0 whatever the ratio, 1 when a
request failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_mlpipelines.devserver.standalone import StandaloneAirflow  # noqa: E402

DAG_ID = "bench_endpoint"
DEFINITION = """\
name: bench_endpoint
parameters:
  alpha: {type: number, default: 0.5, minimum: 0, maximum: 1}
  label: {type: string, default: plain}
steps:
  - name: train
    script: train.py
    arguments: ["--alpha", {parameter: alpha}, "--label", {parameter: label}]
"""
GOAL = 2.0
"""The endpoint should cost at most twice Airflow's own trigger."""


def _timed(call: object) -> float:
    began = time.perf_counter()
    response = call()  # type: ignore[operator]
    elapsed = time.perf_counter() - began
    if response.status_code >= 400:
        raise SystemExit(f"request failed: {response.status_code} {response.text[:300]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlp-bench-endpoint-") as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / f"{DAG_ID}.yaml").write_text(DEFINITION)
        (dags / "train.py").write_text("print('hi')\n")
        (dags / f"{DAG_ID}.py").write_text(
            "from airflow_mlpipelines.dag_factory import load_pipeline\nload_pipeline(globals(), __file__)\n"
        )
        with StandaloneAirflow(Path(tmp) / "home", dags) as server:
            server.wait_for_dags([DAG_ID])
            server.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": True}).raise_for_status()
            published = server.post("/mlpipelines/api/published", {"dag_id": DAG_ID, "name": "bench"})
            published.raise_for_status()
            endpoint = f"/mlpipelines/pipelines/{published.json()['Id']}"
            body = {"ExperimentName": "bench", "ParameterAssignments": {"alpha": 0.25, "label": "x"}}
            baseline_body = {"logical_date": None, "conf": {"alpha": 0.25, "label": "x"}}
            for _ in range(3):  # warm both paths (imports, caches) before timing
                _timed(lambda: server.post(endpoint, body))
                _timed(lambda: server.post(f"/api/v2/dags/{DAG_ID}/dagRuns", baseline_body))
            ours, airflow = [], []
            for _ in range(args.runs):
                ours.append(_timed(lambda: server.post(endpoint, body)))
                airflow.append(_timed(lambda: server.post(f"/api/v2/dags/{DAG_ID}/dagRuns", baseline_body)))

    def p90(values: list[float]) -> float:
        return sorted(values)[int(0.9 * (len(values) - 1))]

    ratio = statistics.median(ours) / statistics.median(airflow)
    print(f"runs triggered per path: {args.runs}")
    print(f"POST /api/v2/dags/{{id}}/dagRuns (baseline): median {statistics.median(airflow) * 1000:.1f} ms, "
          f"p90 {p90(airflow) * 1000:.1f} ms")  # fmt: skip
    print(f"POST published endpoint:                   median {statistics.median(ours) * 1000:.1f} ms, "
          f"p90 {p90(ours) * 1000:.1f} ms")  # fmt: skip
    print(f"ratio endpoint / baseline (median): {ratio:.2f} (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
