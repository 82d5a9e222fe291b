"""``airflow mlpipelines ...``: the provider's commands inside Airflow's own CLI (provider ``cli`` metadata).

Each subcommand hands its arguments to :func:`airflow_mlpipelines.cli.main` unchanged, so ``airflow
mlpipelines validate dags/`` and ``mlpipelines validate dags/`` are one implementation.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

_COMMANDS = {
    "validate": "check definition files and folders (--format json for CI)",
    "schema": "write the JSON Schema of the YAML definition format",
    "stubs": "write one DAG stub per definition in DAGS_FOLDER/definitions/",
    "render": "show the DAG each definition becomes",
    "dockerfile": "write a Docker build context per image of a pipeline's container steps",
    "xcom-orphans": "list (and delete) stored DataFrame files no XCom row references",
}


def run(args: argparse.Namespace) -> None:
    """Run one subcommand with the arguments Airflow's parser left for it; exits with its status."""
    from airflow_mlpipelines.cli import main

    status = main([args.mlp_command, *args.mlp_args])
    if status:
        sys.exit(status)


def get_cli_commands() -> list[Any]:
    """The ``mlpipelines`` command group (Airflow ≥ 3.2 reads it from the provider's ``cli`` entry)."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    rest = Arg(  # type: ignore[no-untyped-call]
        ("mlp_args",), nargs=argparse.REMAINDER, help="the command's own arguments (see --help)"
    )
    subcommands = []
    for name, text in _COMMANDS.items():
        command = Arg(("--mlp-command",), default=name, help=argparse.SUPPRESS)  # type: ignore[no-untyped-call]
        subcommands.append(
            ActionCommand(
                name=name,
                help=text,
                func=lazy_load_command("airflow_mlpipelines.cli_airflow.run"),
                args=(command, rest),
            )
        )
    return [
        GroupCommand(
            name="mlpipelines",
            help="ML pipelines: validate, schema, stubs, render...",
            subcommands=subcommands,
        )
    ]
