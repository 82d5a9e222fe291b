"""``mlpipelines``: validate definitions, write or check the per-definition DAG stubs, show a DAG's shape.

``validate``, ``stubs`` and ``dockerfile`` use only the pure model; ``render`` also builds the Airflow
DAG, so none of them needs a scheduler or a metadata database.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import MLPipelinesError

if TYPE_CHECKING:
    from collections.abc import Sequence

STUB_TEMPLATE = '''"""Airflow DAG for pipeline definition {definition} (written by `mlpipelines stubs`)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory import load_pipeline

load_pipeline(globals(), __file__)
'''


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _definition_files(paths: Sequence[str]) -> list[str]:
    """The files to validate: each file named, and every definition in each folder named (recursively;
    DAG stubs and other Python files that import no SDK names are left out)."""
    from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES

    found: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            found.append(path)
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            for name in sorted(files):
                full = os.path.join(folder, name)
                if name.endswith(YAML_SUFFIXES) or (name.endswith(".py") and _builds_pipeline(full)):
                    found.append(full)
    return found


def _builds_pipeline(path: str) -> bool:
    """A Python file in a folder counts as a definition when it imports the SDK names (a DAG stub imports
    only the DAG factory and is not one)."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return False
    return "airflow_mlpipelines.pipeline" in text


def _problem_json(exc: MLPipelinesError) -> list[dict[str, object]]:
    from airflow_mlpipelines.exceptions import DefinitionError

    if not isinstance(exc, DefinitionError):
        return [{"message": str(exc)}]
    return [
        {
            "file": e.location.file if e.location else None,
            "line": e.location.line if e.location else None,
            "step": e.step,
            "field": e.field,
            "message": e.reason,
            "hint": e.hint,
        }
        for e in (exc, *exc.others)
    ]


def _check_file(path: str, names: dict[str, str]) -> dict[str, object]:
    """One file's report: its pipelines, or every problem found (``names``: pipeline name -> first file)."""
    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import load_definition
    from airflow_mlpipelines.pipeline.sources import check_sources

    entry: dict[str, object] = {"file": path, "ok": True, "pipelines": [], "problems": [], "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            specs = load_definition(path)
            for spec in specs:
                check_sources(spec)
                render_pipeline(spec)
        except MLPipelinesError as exc:
            problems, text = _problem_json(exc), str(exc)
            schedule = _schedule_problem(path)  # a file with schema errors is not rendered: check it alone
            reported = any(str(p.get("field")).split(".")[0] == "schedule" for p in problems)
            if schedule is not None and not reported:
                problems.extend(_problem_json(schedule))
                text += f"\n{schedule}"
            return {**entry, "ok": False, "problems": problems, "text": text}
    for spec in specs:
        first = names.setdefault(spec.name, path)
        if first != path:
            where = spec.where("name")
            message = f"pipeline name '{spec.name}' is also used by {first} (DAG ids must be unique)"
            problem = {"file": path, "line": where.line if where else None, "step": None, "field": "name"}
            entry.update(ok=False, text=f"{path}: {message}")
            entry["problems"] = [{**problem, "message": message, "hint": "rename one of them"}]
    entry["pipelines"] = [{"name": s.name, "steps": len(s.steps)} for s in specs]
    entry["warnings"] = [str(w.message) for w in caught]
    return entry


def _schedule_problem(path: str) -> MLPipelinesError | None:
    """The ``schedule`` of a YAML file that did not load, checked as Airflow will (None: fine or absent)."""
    from airflow.sdk import DAG

    from airflow_mlpipelines.dag_factory.render import check_schedule
    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import PipelineSpec
    from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES, read_yaml

    if not path.endswith(YAML_SUFFIXES):
        return None
    try:
        data = read_yaml(path)
    except MLPipelinesError:
        return None
    schedule = data.get("schedule") if isinstance(data, dict) else None
    line = getattr(data, "key_lines", {}).get("schedule")
    if isinstance(schedule, dict):
        return _recurrence_problem(path, schedule, line)
    if not isinstance(schedule, str):
        return None
    spec = PipelineSpec(
        "schedule_check", (), schedule=schedule, locations=(("schedule", SourceLocation(path, line)),)
    )
    try:
        check_schedule(DAG("mlpipelines_schedule_check", schedule=schedule), spec)
    except MLPipelinesError as exc:
        return exc
    except ValueError as exc:
        from airflow_mlpipelines.dag_factory.render import schedule_error

        return schedule_error(spec, exc)
    return None


def _recurrence_problem(path: str, schedule: dict[str, object], line: int | None) -> MLPipelinesError | None:
    """A recurrence mapping's broken rule, at its field's line (None: it is valid)."""
    from airflow_mlpipelines.exceptions import ScheduleError, SourceLocation
    from airflow_mlpipelines.pipeline.recurrence import parse_schedule

    try:
        parse_schedule(schedule)
    except ScheduleError as exc:
        return exc.at(SourceLocation(path, getattr(schedule, "key_lines", {}).get(exc.key, line)))
    return None


def _validate(paths: Sequence[str], fmt: str = "text") -> int:
    """Every problem of every file (schema, cross-field, sources, what Airflow checks when it stores the
    DAG: schedule, operators), and pipeline names used by two files."""
    import json

    files = _definition_files(paths)
    if not files:
        _out(f"no definition files in {', '.join(paths)}")
        return 1
    names: dict[str, str] = {}
    report = [_check_file(path, names) for path in files]
    failed = sum(1 for e in report if not e["ok"])
    if fmt == "json":
        _out(json.dumps({"ok": failed == 0, "files": report}, indent=2, default=str))
        return 1 if failed else 0
    for entry in report:
        if not entry["ok"]:
            _out(f"FAIL {entry['text']}")
            continue
        for pipeline in entry["pipelines"]:  # type: ignore[attr-defined]
            _out(f"ok   {entry['file']}: pipeline '{pipeline['name']}', {pipeline['steps']} steps")
        for warning in entry["warnings"]:  # type: ignore[attr-defined]
            _out(f"     warning: {warning}")
    _out(f"{len(report)} file(s), {failed} with problems")
    return 1 if failed else 0


def _stubs(dags_folder: str, check: bool) -> int:
    from airflow_mlpipelines.dag_factory.load import DEFINITIONS_SUBDIR, list_definitions

    definitions_dir = os.path.join(dags_folder, DEFINITIONS_SUBDIR)
    stale = 0
    for definition in list_definitions(definitions_dir):
        stem = os.path.splitext(os.path.basename(definition))[0]
        stub = os.path.join(dags_folder, stem + ".py")
        text = STUB_TEMPLATE.format(definition=os.path.relpath(definition, dags_folder))
        current = open(stub, encoding="utf-8").read() if os.path.exists(stub) else None
        if current == text:
            continue
        stale += 1
        if check:
            _out(f"stale or missing stub: {stub}")
        else:
            with open(stub, "w", encoding="utf-8") as fh:
                fh.write(text)
            _out(f"wrote {stub}")
    ignore = os.path.join(dags_folder, ".airflowignore")
    if not check and DEFINITIONS_SUBDIR + "/" not in (open(ignore).read() if os.path.exists(ignore) else ""):
        with open(ignore, "a", encoding="utf-8") as fh:
            fh.write(DEFINITIONS_SUBDIR + "/\n")
        _out(f"added {DEFINITIONS_SUBDIR}/ to {ignore}")
    return 1 if check and stale else 0


def _render(paths: Sequence[str]) -> int:
    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import load_definition
    from airflow_mlpipelines.pipeline.assets import describe

    for path in paths:
        for spec in load_definition(path):
            dag = render_pipeline(spec)
            params = ", ".join(dag.params) or "none"
            _out(f"DAG {dag.dag_id} (schedule: {describe(spec.schedule)}; params: {params})")
            for task in dag.tasks:
                _out(f"  {task.task_id}  <- {', '.join(sorted(task.upstream_task_ids)) or '(start)'}")
    return 0


def _dockerfile(path: str, outdir: str, base: str) -> int:
    from airflow_mlpipelines.compute.build_context import (
        CONDA_BASE,
        DEFAULT_BASE,
        needs_conda,
        write_contexts,
    )
    from airflow_mlpipelines.pipeline import load_definition

    for spec in load_definition(path):
        folders = write_contexts(spec, outdir, base)
        for folder in folders:
            _out(f"wrote {folder}/Dockerfile")
        conda = needs_conda(spec)
        if conda and base == DEFAULT_BASE:
            _out(
                f"note: {', '.join(conda)} list(s) conda packages; {DEFAULT_BASE} has no conda: build with "
                f"--base {CONDA_BASE} (or a base image of your own with conda)"
            )
        if not folders:
            _out(f"pipeline '{spec.name}' has no Docker or Kubernetes steps")
    return 0


def _xcom_orphans(delete: bool, older_than: float, root: str | None) -> int:
    from airflow_mlpipelines.xcom import cleanup

    found = cleanup.orphans(root, older_than_seconds=older_than)
    for orphan in found:
        age = orphan.age_seconds / 3600
        _out(f"{'deleted ' if delete else ''}{orphan.url}  {orphan.size} bytes, {age:.1f} h old")
    if delete:
        cleanup.delete(found)
    _out(f"{len(found)} stored value(s) no XCom row references{'' if delete else ' (dry run: add --delete)'}")
    return 0


def _schema(output: str | None) -> int:
    from airflow_mlpipelines.pipeline.json_schema import schema_text

    text = schema_text()
    if output is None or output == "-":
        sys.stdout.write(text)
        return 0
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    _out(f"wrote {output}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("airflow-mlpipelines")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mlpipelines", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_validate = sub.add_parser(
        "validate", help="check definition files and folders; exit 1 if any is invalid"
    )
    p_validate.add_argument("paths", nargs="+", help="definition files, or folders to search")
    p_validate.add_argument("--format", choices=["text", "json"], default="text", help="json: for CI")
    p_schema = sub.add_parser("schema", help="write the JSON Schema of the YAML format (for editors)")
    p_schema.add_argument("--output", "-o", default=None, help="a file (default: standard output)")
    p_stubs = sub.add_parser("stubs", help="write one DAG stub per file in DAGS_FOLDER/definitions/")
    p_stubs.add_argument("dags_folder")
    p_stubs.add_argument("--check", action="store_true", help="only report missing or stale stubs")
    p_render = sub.add_parser("render", help="show the DAG each definition becomes")
    p_render.add_argument("paths", nargs="+")
    p_docker = sub.add_parser(
        "dockerfile", help="write a Docker build context per image of a pipeline's container steps"
    )
    p_docker.add_argument("definition")
    p_docker.add_argument("outdir")
    p_docker.add_argument("--base", default="python:3.11-slim", help="base image with Python 3")
    p_orphans = sub.add_parser("xcom-orphans", help="list stored DataFrame files no XCom row references")
    p_orphans.add_argument("--delete", action="store_true", help="delete them")
    p_orphans.add_argument("--older-than", type=float, default=3600.0, help="seconds (default 3600)")
    p_orphans.add_argument("--root", default=None, help="where to look (default [mlpipelines] xcom_path)")
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.paths, args.format)
        if args.command == "schema":
            return _schema(args.output)
        if args.command == "stubs":
            return _stubs(args.dags_folder, args.check)
        if args.command == "dockerfile":
            return _dockerfile(args.definition, args.outdir, args.base)
        if args.command == "xcom-orphans":
            return _xcom_orphans(args.delete, args.older_than, args.root)
        return _render(args.paths)
    except MLPipelinesError as exc:
        _out(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
