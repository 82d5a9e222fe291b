"""Values several test layers share (integration and e2e check the same examples and the same bad file)."""

from __future__ import annotations

EXAMPLE_DAG_IDS = ("seed004_yaml", "seed004_sdk", "fan_out_in", "parameterised", "plots_report")
EPS_EXAMPLE_DAG_IDS = ("eps_hello", "eps_scatter", "eps_features")
"""The Execute Python Script examples (issue 5); they are in dags_examples/ too."""
MAINTENANCE_DAG_IDS = ("mlpipelines_maintenance",)
"""Hand-written example DAGs for operators (issue 16: deleting stored XCom values no row references)."""
TRANSFER_EXAMPLE_DAG_IDS = ("data_transfer",)
"""Data transfer steps (issue 13); the example needs a database connection, so it runs in its own test."""
ALL_EXAMPLE_DAG_IDS = EXAMPLE_DAG_IDS + EPS_EXAMPLE_DAG_IDS + MAINTENANCE_DAG_IDS + TRANSFER_EXAMPLE_DAG_IDS

BROKEN_YAML = """\
name: broken
steps:
  - name: prepare
    script: prepare.py
    argumentz: ["--x"]
"""
"""A definition whose step misspells ``arguments`` on line 5."""
