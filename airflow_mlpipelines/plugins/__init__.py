"""The Airflow UI plugin: pages showing each step's PNG figures and DataFrame previews."""

from __future__ import annotations

__all__: list[str] = []
