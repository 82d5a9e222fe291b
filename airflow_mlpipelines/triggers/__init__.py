"""Triggers that run on Airflow's triggerer (the waits that must not hold a worker slot)."""

from __future__ import annotations
