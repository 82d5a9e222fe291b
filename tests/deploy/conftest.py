"""Fixtures of the distributed Airflow deployment (defined in ``tests.deploy.fixtures``)."""

from __future__ import annotations

from tests.deploy.fixtures import distributed_airflow, distributed_airflow_factory

__all__ = ["distributed_airflow", "distributed_airflow_factory"]
