"""What logging metrics costs a step (issue 14): a script that logs ``--values`` (default 10,000) metric
values through ``Run.get_context()`` against the same script calling a no-op, each in a fresh process,
plus the runner's reading of the record afterwards; medians of ``--repeat`` rounds.

    .venv/bin/python benchmarks/run_metrics.py [--values 10000 --repeat 5]

Goal: logging 10,000 values adds at most 0.5 s to the step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_mlpipelines.runtime import run_context  # noqa: E402

SCRIPT = """\
import sys
from airflow_mlpipelines.core import Run
run = Run.get_context()
log = run.log if sys.argv[1] == "log" else (lambda name, value: None)
for i in range({n}):
    log("loss", 1.0 / (i + 1))
"""


def _round(script: Path, mode: str, context: Path, record: Path) -> float:
    for old in record.glob("*"):
        old.unlink()
    env = {**os.environ, run_context.ENV: str(context)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script), mode], env=env, check=True)
    elapsed = time.perf_counter() - t0
    if mode == "log":
        t1 = time.perf_counter()
        entries = run_context.read_entries(str(record))
        run_context.metrics_of(entries)
        elapsed += time.perf_counter() - t1
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlp-bench-metrics-") as work:
        folder = Path(work)
        record = folder / "record"
        record.mkdir()
        context = folder / "context.json"
        context.write_text(json.dumps({"id": "bench", "step": "s", "pipeline": "p", "record": str(record)}))
        script = folder / "step.py"
        script.write_text(SCRIPT.format(n=args.values))
        baseline, logged = [], []
        for _ in range(args.repeat):
            baseline.append(_round(script, "noop", context, record))
            logged.append(_round(script, "log", context, record))
    base, with_log = statistics.median(baseline), statistics.median(logged)
    print(f"{args.values:,} metric values, median of {args.repeat} fresh processes")
    print(f"no-op calls (baseline)      {base:7.3f} s")
    print(f"run.log + record read       {with_log:7.3f} s  ({with_log / base:.2f}x)")
    print(f"added by logging            {with_log - base:7.3f} s  (goal <= 0.5 s)")


if __name__ == "__main__":
    main()
