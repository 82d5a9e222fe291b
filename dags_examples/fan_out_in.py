"""Airflow DAG for pipeline definition definitions/fan_out_in.yaml (written by `mlpipelines stubs`)."""

from __future__ import annotations

from airflow_mlpipelines.dag_factory import load_pipeline

load_pipeline(globals(), __file__)
