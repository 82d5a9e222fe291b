"""DAG parse time: N pipelines x M steps through our YAML factory vs the same DAGs hand-written in Python.

Run: ``.venv/bin/python benchmarks/dag_parse.py [--pipelines 50] [--steps 20] [--repeat 3]``

Two dags folders are generated in a temporary directory:

* ``factory``: ``definitions/p{k}.yaml`` plus one ``mlpipelines stubs`` stub per definition and an
  ``.airflowignore`` listing ``definitions/``;
* ``hand-written``: one Python DAG file per pipeline that builds the same DAG with the same operators,
  arguments, task groups, edges and DAG arguments, written out literally (no factory code).

A verification pass first parses both folders, checks that every DAG of one variant equals its twin in
the other (serialized DAG plus every step-operator argument) and that parsing opened no database
connection (the metadata database URL points into a directory that does not exist). It also fills a
private bytecode cache (``PYTHONPYCACHEPREFIX``) for every module and DAG file, as a long-running DAG
processor has after its first parse; the repository and site-packages are not written to.

Each measurement then runs in a fresh interpreter, with a temporary ``AIRFLOW_HOME``, in four modes:

* ``cold``: ``import airflow.dag_processing.dagbag`` and ``DagBag(folder)``, timed together: every import
  (Airflow, our package, PyYAML, pydantic) is paid once for the folder;
* ``warm``: ``DagBag(folder)`` alone, after ``airflow.sdk`` and our operator modules were imported;
* ``fork``: like Airflow 3's DAG processor manager, which imports Airflow once, loads the plugins (its
  ``Job()`` collects listener plugins), calls ``gc.freeze()`` and forks one child per file: each file is
  parsed by ``DagBag(file)`` in a forked child, so every module that neither Airflow's pre-import of a
  file's ``airflow.*`` imports nor a plugin brought into the parent is imported once per *file* (our
  plugin's ``on_load`` imports the DAG factory, with our operators and the pydantic schema);
* ``fork+ser``: as ``fork``, plus ``DagSerialization.to_dict`` of every DAG, as the processor's child does.
* ``fork+pre``: as ``fork``, with the provider also imported by ``airflow_local_settings.py`` (the
  fallback where plugins are loaded before the DAG processor is, ``[core] lazy_load_plugins = False``).

Wall-clock seconds are the headline; CPU seconds (the process's, plus its forked children's) are also
shown because they are far less disturbed by other load on the machine.

Each child asserts that there were no import errors and that it found the expected DAGs and tasks.
The exit status is 0 whatever the ratio (it is a benchmark) and 1 when parsing or verification failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

GOAL = 1.2
VARIANTS = ("factory", "hand-written")
MODES = ("cold", "warm", "fork", "fork+ser", "fork+pre")
TASKS_PER_STEP = 2
"""render.py gives every step a task group with a reuse sensor (``reuse``) and a compute task (``run``)."""
STEP_ATTRS = ("task", "arguments")
"""Operator attributes compared between the variants (not all are in the serialized DAG)."""
VOLATILE_KEYS = frozenset({"fileloc", "relative_fileloc", "doc_md", "_processor_dags_folder"})
"""Serialized-DAG keys that name the DAG file or are documentation, so legitimately differ."""


# -- the pipelines ----------------------------------------------------------------------------------
def consumes(step: int) -> list[int]:
    """Steps whose output step ``step`` reads: the previous one, and every fifth step also step 0's."""
    if step == 0:
        return []
    return [step - 1] + ([0] if step % 5 == 0 and step > 1 else [])


def write_factory(folder: Path, pipelines: int, steps: int) -> None:
    """YAML definitions in ``definitions/``, one stub each (the CLI's template) and ``.airflowignore``."""
    from airflow_mlpipelines.cli import STUB_TEMPLATE

    (folder / "definitions" / "src").mkdir(parents=True)
    (folder / "definitions" / "src" / "step.py").write_text("print('step')\n")  # loading checks it exists
    (folder / ".airflowignore").write_text("definitions/\n")
    for k in range(pipelines):
        lines = [
            f"name: p{k}",
            f"description: Benchmark pipeline {k}.",
            "tags: [bench]",
            "parameters:",
            "  lr: {type: number, default: 0.1}",
            "defaults:",
            "  source_directory: src",
            "steps:",
        ]
        for i in range(steps):
            ins = "".join(f'"--in{j}", {{input: o{j}}}, ' for j in consumes(i))
            lines += [
                f"  - name: s{i}",
                "    script: step.py",
                f'    arguments: [{ins}"--out", {{output: o{i}}}, "--lr=${{{{parameters.lr}}}}"]',
                f"    outputs: [o{i}]",
            ]
        (folder / "definitions" / f"p{k}.yaml").write_text("\n".join(lines) + "\n")
        (folder / f"p{k}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/p{k}.yaml"))


HAND_HEADER = '''"""Benchmark pipeline {k}, written by hand."""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, Param, TaskGroup

from airflow_mlpipelines.connections import plan_connections
from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator
from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
from airflow_mlpipelines.pipeline.model import Argument, Ref
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask

LOCAL = ComputeTargetSpec("local")

with DAG(
    dag_id="p{k}",
    description="Benchmark pipeline {k}.",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    params={{"lr": Param(0.1, type="number")}},
    tags=["mlpipelines", "bench"],
    doc_md="### Pipeline `p{k}`\\n\\nBenchmark pipeline {k}.",
    user_defined_filters={{"mlp_storage_connections": plan_connections}},
) as dag:
'''


def _hand_step(k: int, i: int, source_directory: str) -> list[str]:
    """One step's task group: the step's description written out, the reuse sensor and the compute task."""
    arguments: list[list[Any]] = []
    for j in consumes(i):
        arguments += [[f"--in{j}"], [{"input": f"o{j}"}]]
    arguments += [["--out"], [{"output": f"o{i}"}], ["--lr=", {"parameter": "lr"}]]

    def part(p: Any) -> str:
        return repr(p) if isinstance(p, str) else f"Ref({next(iter(p))!r}, {next(iter(p.values()))!r})"

    argument_objects = ", ".join(f"Argument(({', '.join(part(p) for p in a)},))" for a in arguments)
    inputs = ", ".join(f"InputBinding('o{j}', producer='s{j}')" for j in consumes(i))
    pad = " " * 12
    task = [
        f"pipeline={f'p{k}'!r}",
        f"step={f's{i}'!r}",
        "kind='python_script'",
        "script_name='step.py'",
        f"source_directory={source_directory!r}",
        "target=LOCAL",
        f"arguments=({argument_objects},)",
        f"inputs=({inputs}{',' if inputs else ''})",
        f"outputs=(OutputBinding('o{i}', 'workspaceblobstore'),)",
        "parameters=('lr',)",
        "known_parameters=('lr',)",
    ]
    return [
        f"    with TaskGroup(group_id='s{i}', tooltip='python_script step.py') as s{i}:",
        "        task = StepTask(",
        *(f"{pad}{kw}," for kw in task),
        "        )",
        f"        reuse = ReuseSensor(task_id='reuse', task=task, arguments={arguments!r}, "
        "trigger_rule='none_failed')",
        f"        run = PythonScriptStepOperator(task_id='run', task=task, arguments={arguments!r})",
        "        reuse >> run",
    ]


def write_hand_written(folder: Path, pipelines: int, steps: int) -> None:
    """One DAG file per pipeline, the DAG built literally with the factory's operators and arguments."""
    folder.mkdir(parents=True)
    source_directory = str(folder / "src")
    for k in range(pipelines):
        lines = [HAND_HEADER.format(k=k).rstrip("\n")]
        for i in range(steps):
            lines += _hand_step(k, i, source_directory)
        lines += [f"    s{j} >> s{i}" for i in range(steps) for j in consumes(i)]
        (folder / f"p{k}.py").write_text("\n".join(lines) + "\n")


# -- children: each runs in a fresh interpreter ------------------------------------------------------
def _summary(bag: Any) -> dict[str, Any]:
    return {
        "dags": len(bag.dags),
        "tasks": sum(len(d.tasks) for d in bag.dags.values()),
        "errors": {k: v[-2000:] for k, v in bag.import_errors.items()},
    }


class _Clock:
    """Wall-clock and CPU seconds (this process's, plus those of waited-for forked children)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.children_cpu = 0.0

    def stop(self, measured: dict[str, Any]) -> dict[str, Any]:
        measured["seconds"] = time.perf_counter() - self.wall
        measured["cpu"] = time.process_time() - self.cpu + self.children_cpu
        return measured


def _child_cold(folder: str) -> dict[str, Any]:
    clock = _Clock()
    from airflow.dag_processing.dagbag import DagBag

    return clock.stop(_summary(DagBag(folder)))


def _preimport_operators() -> None:
    import airflow.sdk  # noqa: F401

    import airflow_mlpipelines.operators.python_script
    import airflow_mlpipelines.operators.reuse_sensor  # noqa: F401


def _child_warm(folder: str) -> dict[str, Any]:
    _preimport_operators()
    from airflow.dag_processing.dagbag import DagBag

    clock = _Clock()
    return clock.stop(_summary(DagBag(folder)))


def _parse_and_serialize(path: str) -> dict[str, Any]:
    """What the DAG processor's child does with a file: ``DagBag(file)``, then serialize every DAG."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(path)
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    return _summary(bag)


def _parse_only(path: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    return _summary(DagBag(path))


def _parse_forked(path: str, parse: Callable[[str], dict[str, Any]], clock: _Clock) -> dict[str, Any]:
    """Parse one file in a forked child (as the DAG processor does) and return its summary."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            payload = json.dumps(parse(path))
        except BaseException as exc:
            payload = json.dumps({"dags": 0, "tasks": 0, "errors": {path: repr(exc)}})
        with os.fdopen(write_fd, "w") as fh:
            fh.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        payload = fh.read()
    _, status, usage = os.wait4(pid, 0)
    clock.children_cpu += usage.ru_utime + usage.ru_stime
    if status != 0 or not payload:
        return {"dags": 0, "tasks": 0, "errors": {path: f"child exited with status {status}"}}
    return dict(json.loads(payload))


def _child_fork(folder: str, serialize: bool = False, preload: bool = False) -> dict[str, Any]:
    """Like ``DagFileProcessorManager``: Airflow imported, ``gc.freeze()``, then one fork per file.

    ``preload`` imports this provider in the parent first, as the documented
    ``airflow_local_settings.py`` line ``import airflow_mlpipelines.dag_factory`` does in a deployment.
    """
    # The manager has Airflow loaded and pre-imports the airflow.* modules a DAG file imports.
    import airflow.dag_processing.manager
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.listeners.listener import get_listener_manager
    from airflow.serialization.serialized_objects import DagSerialization  # noqa: F401

    # `airflow dag-processor` creates its Job() before forking, and Job.__init__ loads the plugins
    # (get_listener_manager() collects listener plugins): so do we.
    get_listener_manager()

    if preload:
        import airflow_mlpipelines.dag_factory  # noqa: F401

    gc.freeze()
    files = sorted(str(p) for p in Path(folder).glob("*.py"))
    total: dict[str, Any] = {"dags": 0, "tasks": 0, "errors": {}}
    clock = _Clock()
    for path in files:
        one = _parse_forked(path, _parse_and_serialize if serialize else _parse_only, clock)
        total["dags"] += one["dags"]
        total["tasks"] += one["tasks"]
        total["errors"].update(one["errors"])
    return clock.stop(total)


def _step_attrs(dag: Any) -> dict[str, Any]:
    def value(task: Any, attr: str) -> Any:
        found = getattr(task, attr, None)
        if attr == "task" and found is not None:
            return {k: v for k, v in found.to_json().items() if k != "location"}  # the YAML line
        return found

    return {t.task_id: {"type": type(t).__name__, **{a: value(t, a) for a in STEP_ATTRS}} for t in dag.tasks}


def _signature(dag: Any, roots: list[str]) -> Any:
    """The serialized DAG plus every step-operator argument, with the variant's folder replaced."""
    from airflow.serialization.serialized_objects import DagSerialization

    text = json.dumps({"dag": DagSerialization.to_dict(dag), "steps": _step_attrs(dag)}, default=repr)
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root, "<ROOT>")
    return _drop_volatile(json.loads(text))


def _drop_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_drop_volatile(v) for v in value]
    return value


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where}: factory {a!r} != hand-written {b!r}"


def _child_verify(factory: str, hand: str) -> dict[str, Any]:
    """Parse both folders once; the DAGs must be equal and no database connection may be opened."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    connections: list[str] = []
    event.listen(Engine, "connect", lambda *_: connections.append("connect"))
    from airflow.dag_processing.dagbag import DagBag

    bags = {"factory": DagBag(factory), "hand-written": DagBag(hand)}
    for name, bag in bags.items():
        if bag.import_errors:
            raise SystemExit(f"{name}: import errors: {bag.import_errors}")
    if sorted(bags["factory"].dags) != sorted(bags["hand-written"].dags):
        raise SystemExit(
            f"dag ids differ: {sorted(bags['factory'].dags)} vs {sorted(bags['hand-written'].dags)}"
        )
    roots = [os.path.join(factory, "definitions"), factory, hand]
    for dag_id, dag in bags["factory"].dags.items():
        diff = _first_difference(_signature(dag, roots), _signature(bags["hand-written"].dags[dag_id], roots))
        if diff:
            raise SystemExit(f"DAG {dag_id} differs between the variants: {diff}")
    if connections:
        raise SystemExit(f"parsing opened {len(connections)} database connection(s)")
    return {**_summary(bags["factory"]), "db_connections": len(connections)}


def child_main(argv: list[str]) -> int:
    """``--child MODE FOLDER DAGS TASKS`` or ``--child verify FACTORY HAND DAGS TASKS``: print JSON."""
    mode, folder, *rest = argv
    *extra, dags, tasks = rest
    if mode == "verify":
        measured: dict[str, Any] = _child_verify(folder, extra[0])
    else:
        runners: dict[str, Callable[[str], dict[str, Any]]] = {
            "cold": _child_cold,
            "warm": _child_warm,
            "fork": _child_fork,
            "fork+ser": lambda f: _child_fork(f, serialize=True),
            "fork+pre": lambda f: _child_fork(f, preload=True),
        }
        measured = runners[mode](folder)
    if measured["errors"]:
        raise SystemExit(f"import errors: {json.dumps(measured['errors'], indent=1)}")
    if (measured["dags"], measured["tasks"]) != (int(dags), int(tasks)):
        raise SystemExit(
            f"expected {dags} DAGs and {tasks} tasks, got {measured['dags']} and {measured['tasks']}"
        )
    print(json.dumps(measured))
    return 0


# -- the parent -----------------------------------------------------------------------------------
class ParseFailedError(Exception):
    """A child failed: an import error, wrong DAG or task counts, differing variants, or a crash."""


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run this script as a child in a fresh interpreter and return the JSON it printed."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise ParseFailedError(f"child {args[:2]} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def make_env(root: Path) -> dict[str, str]:
    """A throwaway AIRFLOW_HOME, no examples, a database URL that cannot be opened, and a bytecode cache.

    Bytecode goes to a private ``PYTHONPYCACHEPREFIX`` tree, filled by the verification pass, so the
    measurements see what a long-running DAG processor sees: compiled modules *and* compiled DAG files,
    in both variants alike (``PYTHONDONTWRITEBYTECODE`` would make every run recompile our package and
    the hand-written DAG files).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    home = root / "airflow_home"
    home.mkdir(exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{root / 'no-such-dir' / 'airflow.db'}",
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
    )
    return env


Medians = dict[tuple[str, str, str], float]
"""(mode, variant, "seconds" or "cpu") -> median."""


def measure(folders: dict[str, Path], env: dict[str, str], expected: tuple[int, int], repeat: int) -> Medians:
    """Median wall and CPU seconds per (mode, variant); runs are interleaved so drift hits both alike."""
    dags, tasks = (str(n) for n in expected)
    results: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(repeat):
        for mode in MODES:
            for variant in VARIANTS:
                folder = str(folders[variant])
                child_env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": folder}
                measured = run_child([mode, folder, dags, tasks], child_env)
                for clock in ("seconds", "cpu"):
                    results.setdefault((mode, variant, clock), []).append(float(measured[clock]))
    return {key: statistics.median(values) for key, values in results.items()}


def print_table(medians: Medians, args: argparse.Namespace) -> None:
    """The table: per mode and variant, median wall seconds, per-DAG ms and the factory/hand ratio."""
    print(
        f"DAG parse: {args.pipelines} pipelines x {args.steps} steps "
        f"({args.steps * TASKS_PER_STEP} tasks per DAG), median of {args.repeat} fresh processes"
    )
    header = ("mode", "variant", "median s", "per DAG ms", "factory/hand", "cpu s", "cpu ratio")
    print("{:8s} {:13s} {:>9s} {:>11s} {:>13s} {:>8s} {:>10s}".format(*header))
    for mode in MODES:
        for variant in VARIANTS:
            wall, cpu = medians[mode, variant, "seconds"], medians[mode, variant, "cpu"]
            ratios = ["", ""]
            if variant == "factory":
                ratios = [
                    f"{medians[mode, variant, c] / medians[mode, 'hand-written', c]:.2f}"
                    for c in ("seconds", "cpu")
                ]
            print(
                f"{mode:8s} {variant:13s} {wall:9.3f} {1000 * wall / args.pipelines:11.1f} "
                f"{ratios[0]:>13s} {cpu:8.3f} {ratios[1]:>10s}"
            )
    print("modes: cold = imports + DagBag(folder); warm = DagBag(folder) after importing airflow.sdk and")
    print("       our operators; fork = DAG-processor-like (Airflow imported and plugins loaded once,")
    print("       gc.freeze(), one forked child per file running DagBag(file)); fork+ser = fork +")
    print("       DagSerialization.to_dict per DAG;")
    print("       fork+pre = fork, airflow_mlpipelines preloaded by airflow_local_settings.py (README)")
    print(f"goal: factory <= {GOAL}x hand-written")
    for mode in MODES:
        ratio = medians[mode, "factory", "seconds"] / medians[mode, "hand-written", "seconds"]
        print(f"  {mode:8s} {ratio:.2f}x  {'met' if ratio <= GOAL else 'NOT met'}")


def main() -> int:
    """Generate both folders, verify they hold equal DAGs, measure, and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR (new) and keep it, e.g. to profile")
    args = parser.parse_args()
    expected = (args.pipelines, args.pipelines * args.steps * TASKS_PER_STEP)
    with tempfile.TemporaryDirectory(prefix="mlp-bench-parse-") as tmp:
        root = Path(args.keep or tmp).resolve()
        folders = {"factory": root / "factory", "hand-written": root / "hand"}
        write_factory(folders["factory"], args.pipelines, args.steps)
        write_hand_written(folders["hand-written"], args.pipelines, args.steps)
        env = make_env(root)
        try:
            verified = run_child(
                ["verify", str(folders["factory"]), str(folders["hand-written"]), *map(str, expected)], env
            )
            medians = measure(folders, env, expected, args.repeat)
        except ParseFailedError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        if (root / "no-such-dir").exists():
            print("FAILED: parsing created the metadata database", file=sys.stderr)
            return 1
    print(
        f"verified: both variants give {verified['dags']} equal DAGs with {verified['tasks']} tasks; "
        f"database connections while parsing: {verified['db_connections']}"
    )
    print_table(medians, args)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
