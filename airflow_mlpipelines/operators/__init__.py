"""Thin Airflow operators: they resolve paths and values, then delegate to ``runtime``."""

from __future__ import annotations
