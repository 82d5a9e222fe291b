"""Fixtures that start real Airflow servers for end-to-end tests and always stop them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AirflowServer


@pytest.fixture(scope="module")
def airflow_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., AirflowServer]]:
    """Start ``AirflowServer``s on demand; every one started is stopped at teardown."""
    started: list[AirflowServer] = []

    def start(dags_folder: Path, extra_env: dict[str, str] | None = None) -> AirflowServer:
        server = AirflowServer(tmp_path_factory.mktemp("airflow-home"), dags_folder, extra_env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
