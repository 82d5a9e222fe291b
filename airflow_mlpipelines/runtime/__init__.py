"""Code that runs a step's user code; imports no Airflow so it can run inside a step image."""

from __future__ import annotations
