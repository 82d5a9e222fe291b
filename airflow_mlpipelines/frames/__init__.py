"""DataFrame rules: exact, pickle-free round trips through Arrow IPC and Parquet (no Airflow)."""

from __future__ import annotations
