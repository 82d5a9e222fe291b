"""Turn pipeline definitions into Airflow DAGs (the only package that knows every adapter)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory.load import load_pipeline, load_pipelines
from airflow_mlpipelines.dag_factory.render import render_pipeline
from airflow_mlpipelines.dag_factory.schedules import airflow_schedule, next_run_times

__all__ = ["airflow_schedule", "load_pipeline", "load_pipelines", "next_run_times", "render_pipeline"]
