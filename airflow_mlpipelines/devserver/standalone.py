"""A throw-away ``airflow standalone`` (SQLite, LocalExecutor) in its own AIRFLOW_HOME, logged in."""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path

from airflow_mlpipelines.devserver.processes import ServerProcess
from airflow_mlpipelines.devserver.rest import AirflowRestClient, free_port

log = logging.getLogger(__name__)


def airflow_executable() -> str:
    """The ``airflow`` script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


class StandaloneAirflow(AirflowRestClient):
    """``airflow standalone`` in ``home`` reading DAGs from ``dags_folder``; a context manager.

    The object is also the REST client of that server. Inherited ``AIRFLOW*`` variables are dropped so
    the server never sees the caller's configuration; ``extra_env`` is applied last and may override
    any setting made here.
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
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}", describe=self._log_excerpt)
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
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
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
        self.process = ServerProcess(
            "airflow standalone",
            [airflow_executable(), "standalone"],
            cwd=self.home,
            env=self.env,
            log_path=self.home / "standalone.log",
        )

    @property
    def log_path(self) -> Path:
        """The combined output of ``airflow standalone`` and all its components."""
        return self.process.log_path

    def __enter__(self) -> StandaloneAirflow:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start standalone, wait until API server, scheduler and DAG processor are healthy, and log in."""
        self.home.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self.process.start()
        atexit.register(self.stop)
        try:
            self.poll("healthy Airflow", self._healthy, self.startup_timeout)
            passwords = self.home / "simple_auth_manager_passwords.json.generated"
            username, password = next(iter(json.loads(passwords.read_text()).items()))
            self.login(username, password)
        except BaseException:
            self.stop()
            raise
        log.info("Airflow standalone healthy at %s after %.1fs", self.base_url, time.monotonic() - began)

    def _healthy(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"airflow standalone exited early; log {self.log_path}:\n{self.log_tail()}")
        return self.healthy()

    def stop(self, grace: float = 5) -> None:
        """Stop every process standalone started: SIGTERM, wait up to ``grace`` s, then SIGKILL the rest."""
        atexit.unregister(self.stop)
        self.close()
        self.process.stop(grace)

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of the standalone log, for failure messages."""
        return self.process.log_tail(lines)

    def _log_excerpt(self) -> str:
        return f"; log {self.log_path}:\n{self.log_tail()}"
