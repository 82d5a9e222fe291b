"""Hooks that the Airflow components of a one-machine distributed deployment load through configuration.

Used by ``tests/deploy`` (several Celery workers, each with its own home, all on 127.0.0.1):

- :func:`hostname` is every component's ``[core] hostname_callable``: ``$MLP_HOSTNAME`` when set, else the
  fully qualified domain name (Airflow's default). A worker's name is what the API server puts in front of
  ``:{[logging] worker_log_server_port}/log/`` to fetch its task logs (``FileTaskHandler.
  _get_log_retrieval_url``), and that port is one setting of the API server for all workers; workers that
  share 127.0.0.1 need a port each, so a worker calls itself ``127.0.0.1:PORT/log/#NAME``: the URL Airflow
  builds is then ``http://127.0.0.1:PORT/log/#NAME:...`` and the relative log path replaces the fragment.
- ``python -m airflow_mlpipelines.devserver.loopback serve-logs --port P`` serves Airflow's own log server
  app (``airflow.utils.serve_logs.log_server``, JWT-checked like the original) on 127.0.0.1 only:
  ``airflow celery worker`` and ``airflow triggerer`` start theirs on every interface (``[::]`` or
  ``0.0.0.0``, ``airflow/utils/serve_logs/core.py``) with no setting to change that, so they run with
  ``--skip-serve-logs`` and this one beside them.
"""

from __future__ import annotations

import argparse
import os
import socket

HOSTNAME_ENV = "MLP_HOSTNAME"


def hostname() -> str:
    """This process's host name for Airflow: ``$MLP_HOSTNAME``, else ``socket.getfqdn()``."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


def log_server_hostname(port: int, name: str) -> str:
    """The host name under which the API server reaches a log server on ``127.0.0.1:port``."""
    return f"127.0.0.1:{port}/log/#{name}"


def serve_logs(port: int, host: str = "127.0.0.1") -> None:
    """Run Airflow's log server app on ``host:port`` until stopped."""
    import uvicorn

    uvicorn.run(
        "airflow.utils.serve_logs.log_server:get_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


def main(argv: list[str] | None = None) -> None:
    """``serve-logs --port P [--host 127.0.0.1]``."""
    parser = argparse.ArgumentParser(prog="python -m airflow_mlpipelines.devserver.loopback")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve-logs", help="serve this AIRFLOW_HOME's task logs on loopback")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    serve_logs(args.port, args.host)


if __name__ == "__main__":
    main()
