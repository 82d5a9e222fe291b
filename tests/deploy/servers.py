"""Throw-away servers on free 127.0.0.1 ports for a distributed Airflow: PostgreSQL, Redis, an S3 (moto).

Each runs in its own process session (``ServerProcess``), is waited for until it answers, and is stopped by
its session, never by name. ``start()`` stops what it started when it fails.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from airflow_mlpipelines.devserver.processes import ServerProcess
from airflow_mlpipelines.devserver.rest import free_port

if TYPE_CHECKING:
    from collections.abc import Callable

LOOPBACK = "127.0.0.1"


def wait_until(what: str, check: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
    """Call ``check`` every 0.1 s until it is true; on timeout raise with ``describe()`` (log tails)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout}s\n{describe()}")
        time.sleep(0.1)


def base_env() -> dict[str, str]:
    """The caller's environment without Airflow's, AWS's or proxy settings (a server sees none of them)."""
    dropped = ("AIRFLOW", "AWS_", "BOTO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


UserServerProcess = ServerProcess
"""Kept under this name: ``ServerProcess(..., user=...)`` runs as another account."""


class _Server:
    """What every server here has: a process, start with cleanup, stop, log tail."""

    name = "server"
    process: ServerProcess

    def _start(self, ready: Callable[[], bool], timeout: float) -> None:
        self.process.start()
        atexit.register(self.stop)
        try:
            wait_until(f"{self.name} answering", lambda: self._alive() and ready(), timeout, self.describe)
        except BaseException:
            self.stop()
            raise

    def _alive(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"{self.name} exited early\n{self.describe()}")
        return True

    def stop(self) -> None:
        """Stop the server's whole process session."""
        atexit.unregister(self.stop)
        self.process.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output."""
        return self.process.log_tail(lines)

    def describe(self) -> str:
        """A header and the log tail, for failure messages."""
        return f"--- {self.name} ({self.process.log_path}) ---\n{self.log_tail()}"


class PostgresServer(_Server):
    """A throw-away PostgreSQL cluster (``initdb`` in a temporary folder) with one database and user.

    As root, the cluster belongs to the ``postgres`` account and lives in its own ``mkdtemp`` folder (the
    caller's folder may not be reachable for that account); it is removed by ``stop()``.
    """

    name = "postgres"

    def __init__(self, root: Path, *, port: int | None = None, database: str = "airflow") -> None:
        root = Path(root)
        self.port = port or free_port()
        self.database = database
        self.user = "airflow"
        self.password = secrets.token_hex(12)
        self._superpassword = secrets.token_hex(12)
        self.os_user = "postgres" if os.geteuid() == 0 else None
        if self.os_user:
            try:
                pwd.getpwnam(self.os_user)
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL does not run as root, and there is no 'postgres' account"
                ) from None
        self.log_path = root / "postgres.log"
        self.root = root  # as root: replaced by a folder of the postgres account when started
        self.process = self._server_process()

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        """The folder of the server's Unix socket."""
        return self.root / "sock"

    def _server_process(self) -> UserServerProcess:
        argv = ["postgres", "-D", str(self.data), "-p", str(self.port), "-h", LOOPBACK]
        argv += ["-k", str(self.sockets)]
        # A test database: nothing needs to survive a crash of the machine.
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"):
            argv += ["-c", setting]
        return UserServerProcess(
            self.name, argv, cwd=self.root, env=self._env(), log_path=self.log_path, user=self.os_user
        )

    def _env(self) -> dict[str, str]:
        return {**base_env(), "HOME": str(self.root), "TMPDIR": str(self.root), "LC_ALL": "C.UTF-8"}

    @property
    def sqlalchemy_url(self) -> str:
        """``postgresql+psycopg2://airflow:...@127.0.0.1:PORT/airflow``."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    @property
    def celery_result_backend(self) -> str:
        """The same database as a Celery result backend (``db+postgresql+psycopg2://...``)."""
        return f"db+{self.sqlalchemy_url}"

    def start(self, timeout: float = 60) -> None:
        """``initdb``, start the server, create the user and its database."""
        if self.os_user:
            self.root = Path(tempfile.mkdtemp(prefix="mlp-pg-"))
            self.process = self._server_process()
        self.sockets.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "superuser.pw"
        pwfile.write_text(self._superpassword + "\n")
        if self.os_user:
            account = pwd.getpwnam(self.os_user)
            for path in (self.root, self.sockets, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        initdb = [
            "initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
        ]  # fmt: skip
        done = subprocess.run(
            initdb,
            cwd=self.root,
            env=self._env(),
            capture_output=True,
            text=True,
            check=False,
            user=self.os_user,
            group=self.os_user,
            extra_groups=[] if self.os_user else None,
        )
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        self._start(self._answers, timeout)
        try:
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def _connect(self, **kwargs: Any) -> Any:
        import psycopg2

        return psycopg2.connect(host=LOOPBACK, port=self.port, connect_timeout=2, **kwargs)

    def _answers(self) -> bool:
        try:
            self._connect(user="postgres", password=self._superpassword, dbname="postgres").close()
        except Exception:  # psycopg2.OperationalError while it starts
            return False
        return True

    def _create_database(self) -> None:
        conn = self._connect(user="postgres", password=self._superpassword, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE ROLE {self.user} LOGIN PASSWORD %s", (self.password,))
                cur.execute(f"CREATE DATABASE {self.database} OWNER {self.user}")
        finally:
            conn.close()

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), then stop what is left; remove a root-owned cluster."""
        if self.process.proc is not None and self.process.alive():
            with contextlib.suppress(OSError):
                os.kill(self.process.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.proc.wait(timeout=10)
        super().stop()
        if self.os_user and self.root.name.startswith("mlp-pg-"):
            shutil.rmtree(self.root, ignore_errors=True)


class RedisServer(_Server):
    """``redis-server`` on a free loopback port, nothing saved to disk."""

    name = "redis"

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(root)
        argv = [
            "redis-server", "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--dir", str(self.root), "--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
        ]  # fmt: skip
        env = {**base_env(), "HOME": str(self.root), "TMPDIR": str(self.root)}
        self.process = ServerProcess(
            self.name, argv, cwd=self.root, env=env, log_path=self.root / "redis.log"
        )

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it answers ``PING``."""
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (bash .ci/system-deps installs it)")
        self.root.mkdir(parents=True, exist_ok=True)
        self._start(self._pong, timeout)

    def _pong(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class MotoServer(_Server):
    """moto's S3 HTTP API (``python -m moto.server``) on a free loopback port, in its own process."""

    name = "moto"
    region = "us-east-1"

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(root)
        self.access_key = "mlp-test-key"
        self.secret_key = secrets.token_hex(16)
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]
        env = {**base_env(), "HOME": str(self.root), "TMPDIR": str(self.root), "PYTHONUNBUFFERED": "1"}
        self.process = ServerProcess(self.name, argv, cwd=self.root, env=env, log_path=self.root / "moto.log")

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it answers HTTP."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._start(self._answers, timeout)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.endpoint_url}/moto-api/data.json", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def client(self) -> Any:
        """A boto3 S3 client of this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def filesystem(self) -> Any:
        """An ``s3fs.S3FileSystem`` of this server (not cached between calls)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=self.access_key,
            secret=self.secret_key,
            endpoint_url=self.endpoint_url,
            client_kwargs={"region_name": self.region},
            skip_instance_cache=True,
        )

    def airflow_connection(self) -> dict[str, Any]:
        """The Airflow ``aws`` connection (JSON form, e.g. for ``AIRFLOW_CONN_<ID>``) reaching this server."""
        return {
            "conn_type": "aws",
            "login": self.access_key,
            "password": self.secret_key,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (us-east-1 takes no location constraint)."""
        self.client().create_bucket(Bucket=bucket)
