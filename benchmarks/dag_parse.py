"""DAG parse time: N pipelines x M steps through our YAML factory vs the same DAGs hand-written in Python.

Run: ``.venv/bin/python benchmarks/dag_parse.py [--pipelines 50] [--steps 20] [--repeat 3]``

Each measurement parses one folder with Airflow's ``DagBag`` in a fresh interpreter in which Airflow's
Task SDK and our operator are already imported (as in the DAG processor, which has Airflow loaded), so
the figure is the parse itself: YAML loading, validation and rendering for the factory; executing the
Python files for the hand-written variant. The one-off import of the factory's own modules (pydantic
schema, loaders) is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_mlpipelines.cli import STUB_TEMPLATE  # noqa: E402

MEASURE = textwrap.dedent(
    """
    import json, sys, time
    import airflow.sdk
    import airflow_mlpipelines.operators.python_script
    from airflow.dag_processing.dagbag import DagBag
    t0 = time.perf_counter()
    bag = DagBag(sys.argv[1])
    seconds = time.perf_counter() - t0
    tasks = sum(len(d.tasks) for d in bag.dags.values())
    print(json.dumps({"seconds": seconds, "dags": len(bag.dags), "tasks": tasks,
                      "errors": {k: v[-300:] for k, v in bag.import_errors.items()}}))
    """
)

IMPORT_COST = textwrap.dedent(
    """
    import json, time
    import airflow.sdk
    import airflow_mlpipelines.operators.python_script
    t0 = time.perf_counter()
    import airflow_mlpipelines.dag_factory
    print(json.dumps({"seconds": time.perf_counter() - t0}))
    """
)


def _inputs(step: int) -> list[int]:
    """Step i reads step i-1's output; every fifth step also reads step 0's (fan-in)."""
    if step == 0:
        return []
    return [step - 1] + ([0] if step % 5 == 0 and step > 1 else [])


def write_factory(folder: Path, pipelines: int, steps: int) -> None:
    (folder / "definitions").mkdir(parents=True)
    (folder / ".airflowignore").write_text("definitions/\n")
    for k in range(pipelines):
        lines = [f"name: p{k}", "parameters:", "  lr: {type: number, default: 0.1}", "steps:"]
        for i in range(steps):
            args = ", ".join(f'"--in{j}", {{input: o{j}}}' for j in _inputs(i))
            lines += [
                f"  - name: s{i}",
                "    script: step.py",
                "    source_directory: src",
                f'    arguments: [{args + ", " if args else ""}"--out", {{output: o{i}}}, '
                '"--lr=${{parameters.lr}}"]',
                f"    outputs: [o{i}]",
            ]
        (folder / "definitions" / f"p{k}.yaml").write_text("\n".join(lines) + "\n")
        (folder / f"p{k}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/p{k}.yaml"))


def write_hand_written(folder: Path, pipelines: int, steps: int) -> None:
    folder.mkdir(parents=True)
    src = str(folder / "src")
    for k in range(pipelines):
        lines = [
            "from __future__ import annotations",
            "",
            "import datetime",
            "",
            "from airflow.sdk import DAG, Param, TaskGroup",
            "",
            "from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator",
            "",
            "with DAG(",
            f'    dag_id="p{k}",',
            "    schedule=None,",
            "    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),",
            "    catchup=False,",
            '    params={"lr": Param(0.1, type="number")},',
            '    tags=["mlpipelines"],',
            ") as dag:",
        ]
        for i in range(steps):
            args = [[f"--in{j}"] for j in _inputs(i)]
            arguments: list[list[object]] = []
            for j in _inputs(i):
                arguments += [[f"--in{j}"], [{"input": f"o{j}"}]]
            arguments += [["--out"], [{"output": f"o{i}"}], ["--lr=", {"parameter": "lr"}]]
            inputs = {f"o{j}": {"task_id": f"s{j}.run"} for j in _inputs(i)}
            del args
            lines += [
                f'    with TaskGroup(group_id="s{i}") as s{i}:',
                "        PythonScriptStepOperator(",
                '            task_id="run",',
                f'            pipeline="p{k}",',
                f'            step="s{i}",',
                '            script_name="step.py",',
                f"            source_directory={src!r},",
                f"            arguments={arguments!r},",
                f"            inputs={inputs!r},",
                f'            outputs={{"o{i}": "workspaceblobstore"}},',
                "            datastores={},",
                '            parameters=["lr"],',
                "        )",
            ]
        for i in range(1, steps):
            for j in _inputs(i):
                lines.append(f"    s{j} >> s{i}")
        (folder / f"p{k}.py").write_text("\n".join(lines) + "\n")


def _run(code: str, *args: str, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"measurement failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlp-bench-parse-") as tmp:
        root = Path(tmp)
        folders = {"hand-written": root / "hand", "factory (YAML)": root / "factory"}
        write_hand_written(folders["hand-written"], args.pipelines, args.steps)
        write_factory(folders["factory (YAML)"], args.pipelines, args.steps)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(root / "home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        results: dict[str, list[float]] = {name: [] for name in folders}
        for _ in range(args.repeat):
            for name, folder in folders.items():  # interleaved, so drift hits both alike
                measured = _run(MEASURE, str(folder), env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(folder)})
                if measured["errors"] or measured["dags"] != args.pipelines:
                    raise SystemExit(f"{name}: parse failed: {measured}")
                if measured["tasks"] != args.pipelines * args.steps:
                    raise SystemExit(f"{name}: expected {args.pipelines * args.steps} tasks: {measured}")
                results[name].append(float(str(measured["seconds"])))
        import_cost = statistics.median(
            float(str(_run(IMPORT_COST, env=env)["seconds"])) for _ in range(args.repeat)
        )
    base = statistics.median(results["hand-written"])
    print(
        f"DAG parse: {args.pipelines} pipelines x {args.steps} steps, median of {args.repeat} fresh processes"
    )
    print(f"{'variant':16s} {'median s':>9s} {'per DAG ms':>11s} {'ratio':>6s}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:16s} {median:9.3f} {1000 * median / args.pipelines:11.1f} {median / base:6.2f}")
    print(f"one-off import of the factory modules in a fresh worker: {import_cost:.3f} s")
    print("goal: factory <= 1.2x hand-written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
