"""A distributed Airflow 3 deployment on one machine: every part a real server on a 127.0.0.1 port.

PostgreSQL (metadata DB and Celery result backend), Redis (Celery broker), moto (S3, reached from Airflow only
through the ``aws`` connection ``mlp_s3``), and Airflow's API server, scheduler, DAG processor, triggerer and
Celery workers as separate processes. No folder is shared between components: each has its own
``AIRFLOW_HOME`` (which is also its ``HOME``, working directory and parent of its ``TMPDIR``), its own copy of
the DAGs folder (as a git-synced bundle would give it) and its own logs. The API server reads a task's log
from the log server of the worker that ran it.

    with DistributedAirflow(tmp_path, dags_source) as airflow:
        airflow.unpause("my_dag")
        run = airflow.trigger_and_wait("my_dag")
        ti = airflow.task_instance("my_dag", run["dag_run_id"], "produce")
        assert ti["hostname"] == airflow.worker("a").hostname
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from cryptography.fernet import Fernet

from airflow_mlpipelines.devserver.loopback import HOSTNAME_ENV, log_server_hostname
from airflow_mlpipelines.devserver.processes import ServerProcess
from airflow_mlpipelines.devserver.rest import AirflowRestClient, free_port
from airflow_mlpipelines.devserver.standalone import airflow_executable
from tests.deploy.servers import LOOPBACK, MotoServer, PostgresServer, RedisServer, base_env, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

HEALTH_PARTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
DEFAULT_WORKERS: dict[str, tuple[str, ...]] = {"a": ("queue_a",), "b": ("queue_b",)}
_SYNC_SUFFIX = ".~mlp-sync"


def mirror_folder(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source`` (``__pycache__`` left out), each file replaced atomically.

    A DAG processor reading ``target`` meanwhile never sees a half-written file: new content is written
    beside the file under a name that is no ``.py`` and renamed over it. Files gone from ``source`` are
    removed.
    """
    target.mkdir(parents=True, exist_ok=True)
    wanted: set[Path] = set()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if "__pycache__" in rel.parts:
            continue
        wanted.add(rel)
        dest = target / rel
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_file() and dest.read_bytes() == path.read_bytes():
            continue
        staged = dest.with_name(dest.name + _SYNC_SUFFIX)
        shutil.copy2(path, staged)
        os.replace(staged, dest)
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target)
        if "__pycache__" in rel.parts or rel in wanted:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class Component:
    """One Airflow process (``airflow api-server``, ``scheduler``...) in its own home and session.

    ``home`` is its ``AIRFLOW_HOME``, ``HOME`` and working directory, ``tmp`` its ``TMPDIR``, ``dags`` its
    copy of the DAGs folder, ``logs`` Airflow's log folder, ``stdout`` the process's own output.
    """

    def __init__(self, name: str, home: Path, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.home = home
        self.env = dict(env)
        self.process = ServerProcess(name, argv, cwd=home, env=self.env, log_path=self.stdout)

    @property
    def tmp(self) -> Path:
        """The component's ``TMPDIR``."""
        return self.home / "tmp"

    @property
    def dags(self) -> Path:
        """The component's own copy of the DAGs folder (its ``[core] dags_folder``)."""
        return self.home / "dags"

    @property
    def logs(self) -> Path:
        """Airflow's ``[logging] base_log_folder`` of this component."""
        return self.home / "logs"

    @property
    def stdout(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.home / f"{self.name}.out"

    def processes(self) -> list[ServerProcess]:
        """The processes that make up this component."""
        return [self.process]

    def start(self) -> None:
        """Start the component's processes."""
        for proc in self.processes():
            proc.start()

    def alive(self) -> bool:
        """Whether every process of the component still runs."""
        return all(proc.alive() for proc in self.processes())

    def check(self) -> None:
        """Raise if a process of the component has exited (while waiting for it to become ready)."""
        for proc in self.processes():
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early\n{self.describe()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process of the component at once (``kill -9`` by default)."""
        for proc in self.processes():
            proc.kill(sig)

    def stop(self, grace: float = 5) -> None:
        """SIGTERM, then SIGKILL what is left after ``grace`` s."""
        for proc in self.processes():
            proc.stop(grace)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the component's output."""
        return "\n".join(f"[{p.name}]\n{p.log_tail(lines)}" for p in self.processes())

    def describe(self, lines: int = 40) -> str:
        """A header and the log tail, for failure messages."""
        return f"--- {self.name} (home {self.home}) ---\n{self.log_tail(lines)}"

    def files(self, since: float | None = None) -> list[Path]:
        """Every file under the component's home (tmp, dags and logs included), modified at or after
        ``since`` (a ``time.time()``) when given."""
        found = []
        for path in self.home.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and (since is None or path.stat().st_mtime >= since):
                    found.append(path)
        return sorted(found)


class CeleryWorker(Component):
    """``airflow celery worker`` on ``default`` and its own queues, with a log server on loopback.

    ``hostname`` is what task instances that ran here report (``127.0.0.1:LOGPORT/log/#worker-NAME``, see
    ``airflow_mlpipelines.devserver.loopback``); ``celery_name`` is the Celery node name.
    """

    def __init__(
        self,
        name: str,
        home: Path,
        queues: Sequence[str],
        env: Mapping[str, str],
        *,
        concurrency: int,
        log_port: int,
        ping: Callable[[CeleryWorker], bool],
    ) -> None:
        self.worker_name = name
        self.queues = ("default", *queues)
        self.celery_name = f"{name}@mlp-deploy"
        self.log_port = log_port
        self.hostname = env[HOSTNAME_ENV]
        self._ping = ping
        argv = [
            airflow_executable(), "celery", "worker", "--queues", ",".join(self.queues),
            "--concurrency", str(concurrency), "--celery-hostname", self.celery_name,
            "--skip-serve-logs", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        super().__init__(f"worker-{name}", home, argv, env)
        serve = ["-m", "airflow_mlpipelines.devserver.loopback", "serve-logs"]
        self.log_server = ServerProcess(
            f"{self.name} log server",
            [sys.executable, *serve, "--host", LOOPBACK, "--port", str(self.log_port)],
            cwd=home,
            env=self.env,
            log_path=home / f"{self.name}-log-server.out",
        )

    def processes(self) -> list[ServerProcess]:
        """The Celery worker and its log server (a crash of the 'machine' takes both)."""
        return [self.process, self.log_server]

    def answers(self) -> bool:
        """Whether the worker answers a Celery ``ping`` (it then consumes its queues)."""
        return self._ping(self)

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until the worker answers ``ping``."""

        def ready() -> bool:
            self.check()
            return self.answers()

        wait_until(f"{self.celery_name} answering ping", ready, timeout, self.describe)

    def restart(self, timeout: float = 90) -> None:
        """Stop what is left of the worker, start it again (same home, ports and name), wait until ready."""
        self.stop()
        self.start()
        self.wait_ready(timeout)


class DistributedAirflow(AirflowRestClient):
    """The whole deployment; a context manager, and the logged-in REST client of its API server.

    ``extra_env`` is applied last to every Airflow component; ``component_env`` maps a component's name
    (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``, ``worker-a``...) to variables applied
    after that. ``workers`` maps a worker's name to its own queues (it listens to ``default`` as well).
    """

    username = "admin"

    def __init__(
        self,
        root: Path,
        dags_source: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        component_env: Mapping[str, Mapping[str, str]] | None = None,
        workers: Mapping[str, Sequence[str]] | None = None,
        worker_concurrency: int = 2,
        bucket: str = "mlp-deploy",
        conn_id: str = "mlp_s3",
        startup_timeout: float = 180,
    ) -> None:
        self.root = Path(root)
        self.dags_source = Path(dags_source)
        self.extra_env = dict(extra_env or {})
        self.component_env = {k: dict(v) for k, v in (component_env or {}).items()}
        self.worker_queues = {k: tuple(v) for k, v in (workers or DEFAULT_WORKERS).items()}
        self.worker_concurrency = worker_concurrency
        self.bucket = bucket
        self.conn_id = conn_id
        self.startup_timeout = startup_timeout
        self.password = secrets.token_urlsafe(12)
        self.api_port = free_port()
        # Shared by all components: connections are encrypted with the Fernet key, tokens the scheduler
        # and the API server sign must be valid everywhere, log-server requests are signed with the secret.
        self._fernet_key = Fernet.generate_key().decode()
        self._secret_key = secrets.token_hex(16)
        self._jwt_secret = secrets.token_hex(32)
        self._unused_port = free_port()
        super().__init__(f"http://{LOOPBACK}:{self.api_port}", describe=self.describe)
        self.postgres = PostgresServer(self.root / "postgres")
        self.redis = RedisServer(self.root / "redis")
        self.moto = MotoServer(self.root / "moto")
        self.components: dict[str, Component] = {}
        self.timings: dict[str, float] = {}
        self._celery: Any = None
        self._s3: Any = None
        self._started = False

    # -- configuration ----------------------------------------------------------------------------
    @property
    def servers(self) -> list[PostgresServer | RedisServer | MotoServer]:
        """PostgreSQL, Redis and moto."""
        return [self.postgres, self.redis, self.moto]

    def connection(self) -> dict[str, Any]:
        """The ``aws`` connection to moto, as Airflow's JSON connection form."""
        return self.moto.airflow_connection()

    def shared_env(self) -> dict[str, str]:
        """The settings every component shares (before its own home and ``extra_env``)."""
        return {
            **base_env(),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_mlpipelines.devserver.loopback.hostname",
            HOSTNAME_ENV: LOOPBACK,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.sqlalchemy_url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": self.postgres.celery_result_backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            # Log servers: the workers' are on loopback (see CeleryWorker); nothing else serves logs.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._unused_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._unused_port),
            # Fast discovery of new and changed DAG files, and a scheduler that reacts quickly
            # (the values airflow_mlpipelines.devserver.standalone uses).
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            f"AIRFLOW_CONN_{self.conn_id.upper()}": json.dumps(self.connection()),
        }

    def _component_env(self, name: str, home: Path, own: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            **self.shared_env(),
            "AIRFLOW_HOME": str(home),
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            **(own or {}),
            **self.extra_env,
            **self.component_env.get(name, {}),
        }

    def _home(self, name: str) -> Path:
        home = self.root / name
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        mirror_folder(self.dags_source, home / "dags")
        return home

    def _build_components(self) -> None:
        airflow = airflow_executable()
        api_home = self._home("api-server")
        passwords = api_home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}) + "\n")
        api_env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}
        specs: list[tuple[str, list[str], dict[str, str]]] = [
            ("api-server", [airflow, "api-server"], api_env),
            ("scheduler", [airflow, "scheduler", "--skip-serve-logs"], {}),
            ("dag-processor", [airflow, "dag-processor"], {}),
            ("triggerer", [airflow, "triggerer", "--skip-serve-logs"], {}),
        ]
        for name, argv, own in specs:
            home = api_home if name == "api-server" else self._home(name)
            self.components[name] = Component(name, home, argv, self._component_env(name, home, own))
        for name, queues in self.worker_queues.items():
            cname = f"worker-{name}"
            home = self._home(cname)
            port = free_port()
            own = {
                HOSTNAME_ENV: log_server_hostname(port, cname),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port),
            }
            env = self._component_env(cname, home, own)
            self.components[cname] = CeleryWorker(
                name, home, queues, env, concurrency=self.worker_concurrency, log_port=port, ping=self._ping
            )

    # -- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> DistributedAirflow:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything, wait until healthy and every worker answers, log in (stops all on failure)."""
        began = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self._started = True
        atexit.register(self.stop)
        try:
            with ThreadPoolExecutor(len(self.servers)) as pool:
                for future in [pool.submit(server.start) for server in self.servers]:
                    future.result()
            self.moto.create_bucket(self.bucket)
            self.timings["servers"] = time.monotonic() - began
            self._build_components()
            self._migrate()
            self.timings["migrate"] = time.monotonic() - began - self.timings["servers"]
            for component in self.components.values():
                component.start()
            self.poll("healthy Airflow and Celery workers", self._ready, self.startup_timeout, interval=0.25)
            self.login(self.username, self.password)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        self.timings["components"] = self.timings["total"] - self.timings["servers"] - self.timings["migrate"]
        log.info("distributed Airflow ready at %s: %s", self.base_url, self.timings)

    def _migrate(self) -> None:
        home = self.root / "migrate"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        env = self._component_env("migrate", home)
        out = home / "migrate.out"
        with open(out, "wb") as sink:
            done = subprocess.run(
                [airflow_executable(), "db", "migrate"],
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=self.startup_timeout,
                check=False,
            )
        if done.returncode:
            tail = "\n".join(out.read_text(errors="replace").splitlines()[-60:])
            raise RuntimeError(f"airflow db migrate failed ({done.returncode}):\n{tail}\n{self.describe()}")

    def _ready(self) -> bool:
        for component in self.components.values():
            component.check()
        return self.healthy(HEALTH_PARTS) and all(w.answers() for w in self.workers())

    def _ping(self, worker: CeleryWorker) -> bool:
        if self._celery is None:
            from celery import Celery

            self._celery = Celery("mlp-deploy-probe", broker=self.redis.url, set_as_current=False)
        try:
            replies = self._celery.control.ping(destination=[worker.celery_name], timeout=0.5)
        except Exception:  # the broker not reachable (yet)
            return False
        return any(worker.celery_name in reply for reply in replies)

    def stop(self, grace: float = 3) -> None:
        """Stop every component (SIGTERM, SIGKILL after ``grace`` s) and server this deployment started.

        Idempotent; registered with ``atexit`` while the deployment runs.
        """
        atexit.unregister(self.stop)
        if not self._started:
            return
        self._started = False
        self.close()
        components = list(self.components.values())
        if components:
            with ThreadPoolExecutor(len(components)) as pool:
                list(pool.map(lambda c: c.stop(grace), components))
        if self._celery is not None:
            with contextlib.suppress(Exception):
                self._celery.close()
            self._celery = None
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                server.stop()

    # -- access -----------------------------------------------------------------------------------
    def workers(self) -> list[CeleryWorker]:
        """Every Celery worker."""
        return [c for c in self.components.values() if isinstance(c, CeleryWorker)]

    def worker(self, name: str) -> CeleryWorker:
        """The Celery worker ``name`` (``"a"`` or ``"worker-a"``)."""
        component = self.components.get(name) or self.components.get(f"worker-{name}")
        if not isinstance(component, CeleryWorker):
            raise KeyError(f"no worker {name!r}; workers: {[w.worker_name for w in self.workers()]}")
        return component

    def component(self, name: str) -> Component:
        """A component: ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``, ``worker-a``..."""
        return self.components[name]

    def home(self, name: str) -> Path:
        """A component's home (``AIRFLOW_HOME``)."""
        return self.components[name].home

    def s3_url(self, path: str = "") -> str:
        """``s3://mlp_s3@BUCKET/path``: an ``ObjectStoragePath`` URL that goes through the connection."""
        return f"s3://{self.conn_id}@{self.bucket}/{path.lstrip('/')}"

    @property
    def s3(self) -> Any:
        """A boto3 S3 client of the object store (for tests to inspect the bucket)."""
        if self._s3 is None:
            self._s3 = self.moto.client()
        return self._s3

    def s3fs(self) -> Any:
        """An ``s3fs.S3FileSystem`` of the object store; paths are ``BUCKET/key``."""
        return self.moto.filesystem()

    def s3_keys(self, prefix: str = "") -> list[str]:
        """Every key in the bucket under ``prefix``."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def sync_dags(self, source: Path | None = None) -> None:
        """Copy ``source`` (default: the deployment's DAGs source) into every component's DAGs folder,
        as a git-sync of each would."""
        if source is not None:
            self.dags_source = Path(source)
        for component in self.components.values():
            mirror_folder(self.dags_source, component.dags)

    def files(self, since: float | None = None, names: Iterable[str] | None = None) -> dict[str, list[Path]]:
        """Files under each component's home (its tmp, DAGs and logs included), modified at or after
        ``since`` (a ``time.time()``) when given: what a run wrote where."""
        wanted = list(names) if names is not None else list(self.components)
        return {name: self.components[name].files(since) for name in wanted}

    def listening(self) -> dict[str, list[str]]:
        """``ip:port`` of every listening TCP socket of each server and component (all on 127.0.0.1)."""
        parts: dict[str, list[ServerProcess]] = {s.name: [s.process] for s in self.servers}
        parts.update((name, c.processes()) for name, c in self.components.items())
        found: dict[str, list[str]] = {}
        for name, procs in parts.items():
            addresses: set[str] = set()
            for proc in (p for sp in procs for p in sp.processes()):
                with contextlib.suppress(psutil.Error):
                    addresses.update(
                        f"{c.laddr.ip}:{c.laddr.port}"
                        for c in proc.net_connections("inet")
                        if c.status == psutil.CONN_LISTEN
                    )
            found[name] = sorted(addresses)
        return found

    def log_tails(self, lines: int = 40) -> str:
        """The log tails of every server and component."""
        parts = [s.describe() for s in self.servers] + [c.describe(lines) for c in self.components.values()]
        return "\n".join(parts)

    def describe(self) -> str:
        """Failure context appended to timeout errors: every component's log tail."""
        return f"\n{self.log_tails()}"
