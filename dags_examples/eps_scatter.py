"""Airflow DAG for pipeline definition definitions/eps_scatter.yaml (written by `mlpipelines stubs`)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory import load_pipeline

load_pipeline(globals(), __file__)
