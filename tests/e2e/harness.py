"""Start a real Airflow 3 (``airflow standalone`` on SQLite + LocalExecutor) and drive it over REST API v2."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs installed

log = logging.getLogger(__name__)
T = TypeVar("T")

# Keys of a structured log message not shown as ``key=value``: the head of the line, the task's identity.
_LOG_HIDDEN = {"timestamp", "event", "level", "logger", "filename", "lineno", "ti_id", "dag_id", "run_id"}
_LOG_HIDDEN |= {"task_id", "map_index", "try_number"}


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_line(item: Any) -> str:
    """One message of the log endpoint as ``[time] LEVEL logger: event key=value ...``."""
    if not isinstance(item, dict):
        return str(item)
    parts = [
        f"[{item['timestamp']}]" if item.get("timestamp") else "",
        str(item.get("level") or "").upper(),
        f"{item['logger']}:" if item.get("logger") else "",
        str(item.get("event", "")),
        *(f"{k}={v}" for k, v in item.items() if k not in _LOG_HIDDEN),
    ]
    return " ".join(p for p in parts if p)


def _running(proc: psutil.Process) -> bool:
    """Whether a process still runs (a zombie only waits to be reaped by its parent)."""
    with contextlib.suppress(psutil.Error):
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    return False


class AirflowServer:
    """A throw-away ``airflow standalone`` in ``home`` reading DAGs from ``dags_folder``; a context manager.

    Inherited ``AIRFLOW*`` variables are dropped so the server never sees the caller's configuration;
    ``extra_env`` is applied last and may override any setting made here.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        extra_env: dict[str, str] | None = None,
        startup_timeout: float = 180,
        port: int | None = None,
    ) -> None:
        self.home = Path(home)
        self.dags_folder = Path(dags_folder)
        self.startup_timeout = startup_timeout
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        bin_dir = str(Path(sys.executable).parent)
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            # The log servers of scheduler and triggerer default to fixed ports 8793/8794 on all hosts.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor forks this many workers at start (default 32)
            # One secret for all components: tokens the scheduler signs must be valid at the API server.
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Fast discovery of new and changed DAG files, and a scheduler that reacts quickly.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            **(extra_env or {}),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    @property
    def log_path(self) -> Path:
        """The combined output of ``airflow standalone`` and all its components."""
        return self.home / "standalone.log"

    def __enter__(self) -> AirflowServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start standalone, wait until API server, scheduler and DAG processor are healthy, and log in."""
        self.home.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with open(self.log_path, "wb") as out:
            self._proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), "standalone"],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session: every process it starts can be found and stopped
            )
        atexit.register(self.stop)
        try:
            self._poll("healthy Airflow", self._healthy, self.startup_timeout, interval=0.5)
            self._login()
        except BaseException:
            self.stop()
            raise
        log.info("Airflow standalone healthy at %s after %.1fs", self.base_url, time.monotonic() - began)

    def _healthy(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited early; log {self.log_path}:\n{self.log_tail()}")
        try:
            health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def _login(self) -> None:
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        username, password = next(iter(json.loads(passwords.read_text()).items()))
        body = {"username": username, "password": password}
        response = httpx.post(f"{self.base_url}/auth/token", json=body, timeout=10)
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def _processes(self) -> list[psutil.Process]:
        """Every live process of standalone's session, with descendants that left it (``setsid``)."""
        if self._proc is None:
            return []
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == self._proc.pid:
                    found.update((p.pid, p) for p in (proc, *proc.children(recursive=True)))
            except (OSError, psutil.Error):
                continue
        return [p for p in found.values() if _running(p)]

    def stop(self, grace: float = 5) -> None:
        """Stop every process standalone started: SIGTERM, wait up to ``grace`` s, then SIGKILL the rest."""
        atexit.unregister(self.stop)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is None:
            return
        # SIGTERM to all at once: standalone itself would wait for its components one after the other.
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5), (signal.SIGKILL, 5)):
            if not (procs := self._processes()):
                break
            if sig == signal.SIGKILL:
                log.info("SIGKILL to processes left by airflow standalone: %s", [p.pid for p in procs])
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
            psutil.wait_procs(procs, timeout=wait)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        if left := self._processes():
            log.error("processes of airflow standalone survived SIGKILL: %s", [p.pid for p in left])
        self._proc = None

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the standalone log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _poll(self, what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
        """Call ``check`` until it returns something truthy or ``timeout`` passes.

        A read that times out is retried, not fatal: on a busy 2-core machine the API server can stall
        for longer than one request's timeout while SQLite is locked, and the run is still going.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = check()
            except httpx.TimeoutException as exc:
                result, last = None, exc
            else:
                last = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no {what} after {timeout}s (last error: {last!r}); "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(interval)

    # -- REST API v2 -------------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        """The logged-in client (base URL and Bearer token set)."""
        if self._client is None:
            raise RuntimeError("AirflowServer is not started")
        return self._client

    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """``GET path`` (relative to the server, e.g. ``/api/v2/dags``)."""
        return self.client.get(path, params=params)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        """``POST path`` with a JSON body."""
        return self.client.post(path, json=json)

    def patch(self, path: str, json: Any = None) -> httpx.Response:
        """``PATCH path`` with a JSON body."""
        return self.client.patch(path, json=json)

    def _all(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a paginated collection, in pages of 100 (the default ``maximum_page_limit``)."""
        items: list[dict[str, Any]] = []
        while True:
            response = self.get(path, params={"limit": 100, "offset": len(items)})
            response.raise_for_status()
            page = response.json()
            items.extend(page[key])
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        """Wait until every DAG in ``dag_ids`` has been parsed and is known to the API."""
        pending = set(dag_ids)

        def done() -> bool:
            pending.difference_update([d for d in pending if self.get(f"/api/v2/dags/{d}").is_success])
            return not pending

        self._poll(f"DAGs {sorted(pending)}", done, timeout)

    def import_errors(self) -> list[dict[str, Any]]:
        """All import errors; ``filename`` is relative to the dags folder, ``stack_trace`` the error."""
        return self._all("/api/v2/importErrors", "import_errors")

    def wait_for_import_errors(
        self, filename_substrings: Iterable[str], timeout: float = 120
    ) -> list[dict[str, Any]]:
        """Wait until each substring is in some import error's filename; return all import errors."""
        parts = list(filename_substrings)

        def seen() -> list[dict[str, Any]] | None:
            errors = self.import_errors()
            return errors if all(any(p in e["filename"] for e in errors) for p in parts) else None

        return self._poll(f"import errors for {parts}", seen, timeout)

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG (new DAGs are paused: ``dags_are_paused_at_creation``)."""
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> httpx.Response:
        """Trigger a run now (no logical date); the response is returned unchecked."""
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Poll a run until its state is ``success`` or ``failed``; return its JSON."""

        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
            return run if run.get("state") in ("success", "failed") else None

        return self._poll(f"finished run {dag_id}/{run_id}", finished, timeout)

    def trigger_and_wait(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300
    ) -> dict[str, Any]:
        """Trigger a run, assert it was accepted (200), wait until it finished; return the run JSON."""
        response = self.trigger(dag_id, conf)
        assert response.status_code == 200, f"trigger {dag_id}: {response.status_code} {response.text}"
        return self.wait_for_run(dag_id, response.json()["dag_run_id"], timeout)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id`` → state for a run; a mapped instance's key is ``task_id[map_index]``."""
        tis = self._all(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""): ti["state"]
            for ti in tis
        }

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """A task try's whole log as text, one ``[time] LEVEL logger: event key=value`` line a message."""
        response = self.client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        return "\n".join(_log_line(item) for item in response.json().get("content", []))
