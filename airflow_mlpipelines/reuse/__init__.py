"""Whether a step may be skipped: fingerprints, source-tree hashing, manifests (pure: no Airflow)."""

from __future__ import annotations
