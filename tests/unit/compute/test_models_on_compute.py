"""Compute kinds and the model registry: a pod cannot reach a registry on the worker's disk."""

from __future__ import annotations

from pathlib import Path


def test_a_pod_is_warned_about_a_local_registry(tmp_path: Path) -> None:
    from airflow_mlpipelines.compute.kubernetes import KIND
    from airflow_mlpipelines.runtime.plan import StepPlan
    from tests.unit.runtime.test_step_main import _plan

    plan = StepPlan.from_json({**_plan(tmp_path, {}, {}), "models": str(tmp_path / "registry")})
    warnings: list[str] = []
    KIND.prepare(plan, warnings.append)
    assert any("the model registry is the local path" in w for w in warnings)
