"""A small client of Airflow's REST API v2: log in, trigger runs with ``conf``, wait, read states and logs.

Used by the main job, the benchmarks and the end-to-end tests; it works against any Airflow 3 API server
(standalone or a distributed deployment) reachable over HTTP.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")

# Keys of a structured log message not shown as ``key=value``: the head of the line, the task's identity.
_LOG_HIDDEN = {"timestamp", "event", "level", "logger", "filename", "lineno", "ti_id", "dag_id", "run_id"}
_LOG_HIDDEN |= {"task_id", "map_index", "try_number"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_line(item: Any) -> str:
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


class AirflowRestClient:
    """REST API v2 calls on one API server, authenticated with a Bearer token from ``POST /auth/token``.

    ``describe`` is called for failure messages (for example the tail of the servers' logs).
    """

    def __init__(
        self, base_url: str, *, timeout: float = 30, describe: Callable[[], str] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._describe = describe or (lambda: "")
        self._client: httpx.Client | None = None

    # -- session ----------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> None:
        """Get a token for ``username`` and use it for every later call."""
        body = {"username": username, "password": password}
        response = httpx.post(f"{self.base_url}/auth/token", json=body, timeout=10)
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.close()
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        """The logged-in client (base URL and Bearer token set)."""
        if self._client is None:
            raise RuntimeError("AirflowRestClient is not logged in")
        return self._client

    def healthy(self, parts: Iterable[str] = ("metadatabase", "scheduler", "dag_processor")) -> bool:
        """Whether ``GET /api/v2/monitor/health`` reports every one of ``parts`` healthy."""
        try:
            health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def poll(self, what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
        """Call ``check`` until it returns something truthy or ``timeout`` passes.

        A read that times out is retried, not fatal: on a busy 2-core machine the API server can stall
        for longer than one request's timeout while its database is locked, and the run is still going.
        """
        deadline = time.monotonic() + timeout
        while True:
            last: httpx.TimeoutException | None = None
            try:
                result = check()
            except httpx.TimeoutException as exc:
                result, last = None, exc
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout}s (last error: {last!r}){self._describe()}")
            time.sleep(interval)

    # -- REST API v2 -------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """``GET path`` (relative to the server, e.g. ``/api/v2/dags``)."""
        return self.client.get(path, params=params)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        """``POST path`` with a JSON body."""
        return self.client.post(path, json=json)

    def patch(self, path: str, json: Any = None) -> httpx.Response:
        """``PATCH path`` with a JSON body."""
        return self.client.patch(path, json=json)

    def all(self, path: str, key: str) -> list[dict[str, Any]]:
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

        self.poll(f"DAGs {sorted(pending)}", done, timeout)

    def import_errors(self) -> list[dict[str, Any]]:
        """All import errors; ``filename`` is relative to the dags folder, ``stack_trace`` the error."""
        return self.all("/api/v2/importErrors", "import_errors")

    def wait_for_import_errors(
        self, filename_substrings: Iterable[str], timeout: float = 120
    ) -> list[dict[str, Any]]:
        """Wait until each substring is in some import error's filename; return all import errors."""
        parts = list(filename_substrings)

        def seen() -> list[dict[str, Any]] | None:
            errors = self.import_errors()
            return errors if all(any(p in e["filename"] for e in errors) for p in parts) else None

        return self.poll(f"import errors for {parts}", seen, timeout)

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG (new DAGs are paused: ``dags_are_paused_at_creation``)."""
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> httpx.Response:
        """Trigger a run now (no logical date); the response is returned unchecked."""
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """One DAG run's JSON."""
        response = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        run: dict[str, Any] = response.json()
        return run

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Poll a run until its state is ``success`` or ``failed``; return its JSON."""

        def finished() -> dict[str, Any] | None:
            run = self.run(dag_id, run_id)
            return run if run.get("state") in ("success", "failed") else None

        return self.poll(f"finished run {dag_id}/{run_id}", finished, timeout)

    def trigger_and_wait(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300
    ) -> dict[str, Any]:
        """Trigger a run, check it was accepted (200), wait until it finished; return the run JSON."""
        response = self.trigger(dag_id, conf)
        if response.status_code != 200:
            raise RuntimeError(f"trigger {dag_id}: {response.status_code} {response.text}")
        return self.wait_for_run(dag_id, response.json()["dag_run_id"], timeout)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``task_id`` → state for a run; a mapped instance's key is ``task_id[map_index]``."""
        tis = self.all(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""): ti["state"]
            for ti in tis
        }

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance's JSON (state, hostname, queue, try number...)."""
        response = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        response.raise_for_status()
        ti: dict[str, Any] = response.json()
        return ti

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
        return "\n".join(log_line(item) for item in response.json().get("content", []))
