"""Fixtures that start real Airflow servers for end-to-end tests and always stop them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AirflowServer

ServerFactory = Callable[..., AirflowServer]


@pytest.fixture(scope="module")
def airflow_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """``start(dags_folder, extra_env=None)`` starts an ``AirflowServer``; all are stopped at teardown."""
    started: list[AirflowServer] = []

    def start(dags_folder: Path, extra_env: dict[str, str] | None = None) -> AirflowServer:
        server = AirflowServer(tmp_path_factory.mktemp("airflow-home"), dags_folder, extra_env)
        server.start()  # stops itself when start-up fails
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
