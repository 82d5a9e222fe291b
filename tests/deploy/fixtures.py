"""Session-wide fixtures for the distributed Airflow deployment (``tests.deploy.cluster``).

``tests/deploy/conftest.py`` imports them; another test folder (or ``tests/conftest.py``) can do the same:

    from tests.deploy.fixtures import distributed_airflow, distributed_airflow_factory  # noqa: F401

- ``distributed_airflow``: one deployment for the session running the project's ``dags_examples/``. An
  indirect parameter chooses something else: a DAGs folder, or the factory's keyword arguments::

      @pytest.mark.parametrize("distributed_airflow", [{"dags_source": FOLDER, "extra_env": {...}}],
                               indirect=True)

- ``distributed_airflow_factory``: ``factory(dags_source, *, extra_env=None, component_env=None,
  workers=None, ...)`` for a folder a test writes itself. The same arguments give the same running
  deployment back (restarted if one of its processes has died); ``factory.release(deployment)`` stops one
  early; every deployment is stopped at the end of the session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.deploy.cluster import DistributedAirflow

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


class DeploymentFactory:
    """Starts ``DistributedAirflow`` deployments under the session's temporary folder and stops them all."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._running: dict[str, DistributedAirflow] = {}

    @staticmethod
    def _key(dags_source: Path, kwargs: dict[str, Any]) -> str:
        return json.dumps([str(Path(dags_source).resolve()), kwargs], sort_keys=True, default=str)

    def __call__(self, dags_source: Path = EXAMPLES, **kwargs: Any) -> DistributedAirflow:
        """A running deployment of ``dags_source`` configured by ``kwargs`` (see ``DistributedAirflow``)."""
        key = self._key(dags_source, kwargs)
        deployment = self._running.get(key)
        if deployment is not None:
            if all(c.alive() for c in deployment.components.values()):
                return deployment
            self.release(deployment)  # a test killed a part and left it so: start afresh
        deployment = DistributedAirflow(self._tmp.mktemp("distributed-airflow"), dags_source, **kwargs)
        deployment.start()  # stops itself when start-up fails
        self._running[key] = deployment
        return deployment

    def release(self, deployment: DistributedAirflow) -> None:
        """Stop ``deployment`` now (it is started again if asked for again)."""
        deployment.stop()
        self._running = {k: v for k, v in self._running.items() if v is not deployment}

    def stop_all(self) -> None:
        """Stop every deployment started here."""
        for deployment in list(self._running.values()):
            self.release(deployment)


@pytest.fixture(scope="session")
def distributed_airflow_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeploymentFactory]:
    """Start deployments for DAG folders the tests choose; all are stopped at the end of the session."""
    factory = DeploymentFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def distributed_airflow(
    request: pytest.FixtureRequest, distributed_airflow_factory: DeploymentFactory
) -> DistributedAirflow:
    """The session's deployment: ``dags_examples/``, or what an indirect parameter names."""
    param = getattr(request, "param", None)
    if param is None:
        return distributed_airflow_factory(EXAMPLES)
    if isinstance(param, dict):
        return distributed_airflow_factory(**param)
    return distributed_airflow_factory(Path(param))
