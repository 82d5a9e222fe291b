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


def _validate(paths: Sequence[str]) -> int:
    from airflow_mlpipelines.pipeline import load_definition
    from airflow_mlpipelines.pipeline.sources import check_sources

    failed = 0
    for path in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                specs = load_definition(path)
                for spec in specs:
                    check_sources(spec)
            except MLPipelinesError as exc:
                failed += 1
                _out(f"FAIL {exc}")
                continue
        for spec in specs:
            _out(f"ok   {path}: pipeline '{spec.name}', {len(spec.steps)} steps")
        for warning in caught:
            _out(f"     warning: {warning.message}")
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

    for path in paths:
        for spec in load_definition(path):
            dag = render_pipeline(spec)
            _out(f"DAG {dag.dag_id} (schedule: {spec.schedule}; params: {', '.join(dag.params) or 'none'})")
            for task in dag.tasks:
                _out(f"  {task.task_id}  <- {', '.join(sorted(task.upstream_task_ids)) or '(start)'}")
    return 0


def _dockerfile(path: str, outdir: str, base: str) -> int:
    from airflow_mlpipelines.compute.build_context import write_contexts
    from airflow_mlpipelines.pipeline import load_definition

    for spec in load_definition(path):
        folders = write_contexts(spec, outdir, base)
        for folder in folders:
            _out(f"wrote {folder}/Dockerfile")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mlpipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_validate = sub.add_parser("validate", help="check definition files; exit 1 if any is invalid")
    p_validate.add_argument("paths", nargs="+")
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
            return _validate(args.paths)
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
