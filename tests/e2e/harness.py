"""The end-to-end tests' Airflow: the package's own ``StandaloneAirflow`` (the main job uses it too)."""

from __future__ import annotations

from airflow_mlpipelines.devserver import StandaloneAirflow

AirflowServer = StandaloneAirflow

__all__ = ["AirflowServer"]
