"""The main job: a real Airflow on SQLite + LocalExecutor with dags_examples/, one pipeline run over REST."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from pathlib import Path

from airflow_mlpipelines.devserver import StandaloneAirflow
from airflow_mlpipelines.paths import safe_segment

REPO = Path(__file__).resolve().parents[1]


def _port(preferred: int) -> int | None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return None
    return preferred


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default="seed004_yaml", help="example pipeline to trigger")
    parser.add_argument("--exit", action="store_true", help="stop Airflow after the run instead of waiting")
    parser.add_argument("--home", type=Path, default=REPO / ".demo" / "airflow-home", help="AIRFLOW_HOME")
    args = parser.parse_args()
    home: Path = args.home
    server = StandaloneAirflow(
        home,
        REPO / "dags_examples",
        # DataFrames between tasks (Execute Python Script examples) go through our XCom backend.
        extra_env={"AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend"},
        port=_port(8080),
    )
    print(f"Starting Airflow (standalone, SQLite, LocalExecutor) in {home} ...", flush=True)
    server.start()
    try:
        server.wait_for_dags([args.dag])
        server.unpause(args.dag)
        print(f"Triggering {args.dag} through POST /api/v2/dags/{args.dag}/dagRuns ...", flush=True)
        started = time.monotonic()
        run = server.trigger_and_wait(args.dag)
        states = server.task_instances(args.dag, run["dag_run_id"])
        print(f"\nRun {run['dag_run_id']}: {run['state']} in {time.monotonic() - started:.1f}s")
        for task, state in sorted(states.items()):
            print(f"  {task:20s} {state}")
        outputs = home / "mlpipelines" / "datastore"
        print(f"\nUI:           {server.base_url}  (user/password in the file below)")
        print(f"Credentials:  {home / 'simple_auth_manager_passwords.json.generated'}")
        print(f"Outputs:      {outputs}")
        for path in sorted(outputs.rglob("*.json")):
            if safe_segment(run["dag_run_id"]) in path.parts:
                print(f"  {path.relative_to(outputs)}: {json.dumps(json.loads(path.read_text()))[:100]}")
        print(f"Airflow log:  {server.log_path}")
        if run["state"] != "success":
            return 1
        if not args.exit:
            print("\nAirflow keeps running; press Ctrl-C to stop it.", flush=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
