"""Turn pipeline definitions into Airflow DAGs (the only package that knows every adapter)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory.load import load_pipeline, load_pipelines
from airflow_mlpipelines.dag_factory.render import render_pipeline

__all__ = ["load_pipeline", "load_pipelines", "render_pipeline"]
