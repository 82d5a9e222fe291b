"""Start a real Airflow 3 (standalone: scheduler, DAG processor, API server) and drive it over REST."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AirflowServer:
    """A throw-away ``airflow standalone`` on SQLite + LocalExecutor; always stops its process group."""

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        extra_env: dict[str, str] | None = None,
        startup_timeout: float = 180,
        port: int | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.log_path = home / "standalone.log"
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            **(extra_env or {}),
        }
        self.env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> AirflowServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start standalone, wait until healthy, and log in."""
        self.home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "wb") as out:
            self._proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "standalone"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy()
            self._login()
        except BaseException:
            self.stop()
            raise
        log.info("Airflow standalone healthy on %s after %.1fs", self.base_url, time.monotonic() - started)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited early:\n{self.log_tail()}")
            try:
                health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).json()
                if all(health.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler")):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"airflow standalone not healthy after {self.startup_timeout}s:\n{self.log_tail()}"
        )

    def _login(self) -> None:
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 30
        while not passwords.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        username, password = next(iter(json.loads(passwords.read_text()).items()))
        token = httpx.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=10
        ).json()["access_token"]
        self._client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL whatever is left."""
        if self._client is not None:
            self._client.close()
        proc = self._proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                os.killpg(proc.pid, 0)  # children may outlive the leader
                time.sleep(1)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                continue
        self._proc = None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the standalone log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- REST ------------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "server not started"
        return self._client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        return self.client.post(path, json=json)

    def patch(self, path: str, json: Any = None) -> httpx.Response:
        return self.client.patch(path, json=json)

    def _poll(self, what: str, check: Any, timeout: float, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{self.log_tail()}")
            time.sleep(interval)

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        self._poll(
            f"DAGs {dag_ids}",
            lambda: all(self.get(f"/api/v2/dags/{d}").status_code == 200 for d in dag_ids),
            timeout,
        )

    def import_errors(self) -> list[dict[str, Any]]:
        response = self.get("/api/v2/importErrors", params={"limit": 100})
        response.raise_for_status()
        return list(response.json()["import_errors"])

    def wait_for_import_errors(self, filename_parts: list[str], timeout: float = 120) -> None:
        self._poll(
            f"import errors for {filename_parts}",
            lambda: all(any(p in e["filename"] for e in self.import_errors()) for p in filename_parts),
            timeout,
        )

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> httpx.Response:
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
            return run if run.get("state") in ("success", "failed") else None

        return dict(self._poll(f"run {dag_id}/{run_id}", finished, timeout, interval=0.5))

    def trigger_and_wait(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300
    ) -> dict[str, Any]:
        response = self.trigger(dag_id, conf)
        assert response.status_code == 200, response.text
        return self.wait_for_run(dag_id, response.json()["dag_run_id"], timeout)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, str]:
        data = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        ).json()
        return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        response = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        lines = []
        for item in response.json().get("content", []):
            lines.append(item.get("event", "") if isinstance(item, dict) else str(item))
        return "\n".join(lines)
