"""A burst of pipeline runs on the distributed deployment, against the same burst of a no-op DAG.

Run: ``.venv/bin/python benchmarks/load.py [--runs 50] [--seeds 5] [--worker-concurrency 4]``

Starts the distributed test deployment (PostgreSQL, Redis, two Celery workers with separate homes, the
datastore root, manifests, leases and XCom frames on S3 (moto) through an Airflow connection) with
``load_five`` (5 steps, ``a -> b -> c -> e`` and ``a -> d -> e``; step ``a`` takes the ``seed`` parameter)
and ``load_noop`` (5 no-op PythonOperator tasks with the same edges). It triggers ``--runs`` runs of the
no-op DAG within a few seconds and waits for all to finish (the baseline), then ``--runs`` runs of the
pipeline with seeds ``i % --seeds``, and prints for both the time to drain and the p50/p95 task latency
(from when a task could start, its upstream tasks having ended, to when it started), with the ratios,
and checks the promises: every run succeeded, each distinct (step, seed) was computed exactly once, no
lease is left unreleased, every run's last step wrote its seed's result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy import load  # noqa: E402

BUCKET = "mlp-deploy"
S3_ENV = {
    "AIRFLOW__MLPIPELINES__DATASTORE_ROOT": f"s3://mlp_s3@{BUCKET}/datastore",
    "AIRFLOW__MLPIPELINES__XCOM_PATH": f"s3://mlp_s3@{BUCKET}/xcom",
    "AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend",
    # The burst is the point: no run waits because of the per-DAG default of 16 active runs.
    "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "64",
}


def _row(name: str, result: load.Burst, latency: list[float]) -> tuple[float, float, float]:
    if len(latency) < 2:
        raise SystemExit(f"{name}: {len(latency)} task latencies measured; runs {result.run_ids[:3]}...")
    p50, p95 = load.percentile(latency, 50), load.percentile(latency, 95)
    ok = sum(1 for s in result.states if s == "success")
    print(
        f"{name:26s} {len(result.run_ids):5d} {ok:8d} {result.triggered_in:10.1f} {result.drained_in:9.1f}"
        f" {len(latency):6d} {p50:8.2f} {p95:8.2f}"
    )
    return result.drained_in, p50, p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    from tests.deploy.cluster import DistributedAirflow

    with tempfile.TemporaryDirectory(prefix="mlp-load-") as tmp:
        root = Path(tmp)
        dags = root / "dags"
        (dags / "definitions").mkdir(parents=True)
        load.write_dags(dags)
        began = time.monotonic()
        with DistributedAirflow(
            root / "cluster", dags, extra_env=S3_ENV, worker_concurrency=args.worker_concurrency
        ) as airflow:
            print(f"deployment ready in {time.monotonic() - began:.0f} s: {airflow.timings}")
            airflow.wait_for_dags([load.PIPELINE, load.NOOP], timeout=180)
            for dag_id in (load.PIPELINE, load.NOOP):
                airflow.unpause(dag_id)
            # One run of each first, so that neither burst pays for the workers' first imports.
            warm_seed = args.seeds + 1000
            load.burst(airflow, load.NOOP, [0], args.timeout)
            load.burst(airflow, load.PIPELINE, [warm_seed], args.timeout)

            seeds = [i % args.seeds for i in range(args.runs)]
            noop = load.burst(airflow, load.NOOP, seeds, args.timeout)
            noop_latency = load.latencies(airflow, noop)
            pipeline = load.burst(airflow, load.PIPELINE, seeds, args.timeout)
            pipeline_latency = load.latencies(airflow, pipeline)

            print(
                f"\n{args.runs} runs of a 5-step DAG triggered together; 2 Celery workers x "
                f"{args.worker_concurrency} slots, PostgreSQL, Redis, S3 (moto) through a connection"
            )
            print(
                f"{'DAG':26s} {'runs':>5s} {'success':>8s} {'trigger s':>10s} {'drain s':>9s}"
                f" {'tasks':>6s} {'p50 s':>8s} {'p95 s':>8s}"
            )
            base = _row("no-op (5 PythonOperators)", noop, noop_latency)
            ours = _row(f"load_five ({args.seeds} seeds)", pipeline, pipeline_latency)
            print(
                f"ratios against the no-op burst: drain {ours[0] / base[0]:.2f}x, "
                f"p50 latency {ours[1] / base[1]:.2f}x, p95 latency {ours[2] / base[2]:.2f}x"
            )
            print("(load_five has 10 tasks a run, a reuse sensor and a compute task per step)")

            executed = load.executions(airflow, pipeline)
            wanted = {(step, seed): 1 for step in load.STEPS for seed in set(seeds)}
            texts = load.results(airflow, pipeline, BUCKET)
            wrong = [
                r for r, s in zip(pipeline.run_ids, seeds, strict=True) if texts[r] != load.expected_result(s)
            ]
            leases = load.open_leases(airflow, BUCKET, f"datastore/_manifests/{load.PIPELINE}/")
            failed = [r for r, s in zip(pipeline.run_ids, pipeline.states, strict=True) if s != "success"]
            print(f"step computations: {sum(executed.values())} (distinct (step, seed): {len(wanted)})")
            print(
                f"failed runs: {len(failed)}; wrong results: {len(wrong)}; unreleased leases: {len(leases)}"
            )
            twice = {k: v for k, v in executed.items() if v != 1}
            missing = sorted(set(wanted) - set(executed))
            if failed or wrong or leases or twice or missing:
                print(
                    f"PROMISE BROKEN: failed={failed} wrong={wrong} leases={leases} twice={twice} "
                    f"missing={missing}"
                )
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
