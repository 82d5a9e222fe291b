"""Airflow DAG for pipeline definition definitions/data_transfer.yaml (written by `mlpipelines stubs`)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory import load_pipeline

load_pipeline(globals(), __file__)
