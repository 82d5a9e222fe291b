"""Kubernetes compute target without a cluster: the exact V1Pod the official KubernetesPodOperator would
submit (built by the operator itself), and reuse that never asks for a pod.

The first run is real (dag.test()): the reuse sensor misses and hands over the plan; the pod task fails
because there is no cluster. The test then plays the pod — it runs the runtime entrypoint with that plan,
as the container would — and the second run reuses the step: its pod task is skipped before ``execute``
(which, with no cluster, would have failed the run) and the downstream local step reads the outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
parameters:
  epochs: 3
compute_targets:
  gpu-cluster:
    kind: kubernetes
    image: registry.example/train:1
    gpu_count: 2
    gpu_type: NVIDIA-A100-SXM4-80GB
    cpu_request: 2
    cpu_limit: "4"
    memory_request: 8Gi
    memory_limit: 16Gi
    node_selector: {{pool: gpu}}
    tolerations:
      - {{key: dedicated, operator: Equal, value: ml, effect: NoSchedule}}
    namespace: ml
    service_account: trainer
    image_pull_policy: IfNotPresent
    env: {{TARGET_VAR: "1"}}
    volumes:
      - {{name: data, claim: ml-data, mount_path: /mnt/data}}
      - {{name: cache, host_path: /var/cache/ml, mount_path: /cache, read_only: true}}
    secrets:
      - {{secret: wandb, env: WANDB_API_KEY, key: api-key}}
      - {{secret: s3-creds}}
    source_path: /opt/steps/src
environments:
  torch: {{image: registry.example/torch:2.3, pip: [torch==2.3.0], env: {{ENV_VAR: "e"}}}}
steps:
  - name: prepare
    script: step.py
    source_directory: src
    arguments: [--out, {{output: prepared}}, prepare]
    outputs: [prepared]
  - name: train
    script: step.py
    source_directory: src
    compute: gpu-cluster
    environment: torch
    arguments: [--in, {{input: prepared}}, --out, {{output: model}}, "${{{{parameters.epochs}}}}"]
    outputs: [model]
  - name: report
    script: step.py
    source_directory: src
    arguments: [--in, {{input: model}}, --out, {{output: report}}, report]
    outputs: [report]
"""

STEP = """\
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--in", dest="src")
p.add_argument("--out")
p.add_argument("tag")
a = p.parse_args()
data = open(os.path.join(a.src, "data.txt")).read() if a.src else ""
open(os.path.join(a.out, "data.txt"), "w").write(data + a.tag + ";")
"""


@pytest.fixture
def pipeline(scratch_dags: Path) -> tuple[Path, str]:
    name = f"k8s_{scratch_dags.name}"[:60]
    (scratch_dags / f"{name}.yaml").write_text(DEFINITION.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "step.py").write_text(STEP)
    return scratch_dags, name


def _dag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


def _plan(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id="train.reuse", key="mlp_plan")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def _pod(task: Any, plan: dict[str, Any], dag: Any, run_id: str) -> Any:
    """Render the task's templates as the worker would and let the operator build its pod request."""
    ti = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task.task_id,
        run_id=run_id,
        try_number=1,
        map_index=-1,
        xcom_pull=lambda task_ids, key: plan if (task_ids, key) == ("train.reuse", "mlp_plan") else None,
    )
    context: Any = {"ti": ti, "run_id": run_id, "dag": dag, "task": task}
    task.render_template_fields(context)
    return task.build_pod_request_obj(context, dry_run=True)


def test_pod_request_and_reuse_without_a_pod(pipeline: tuple[Path, str]) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    folder, name = pipeline
    dag = _dag(folder)
    task = dag.get_task("train.run")
    assert type(task) is KubernetesPodOperator  # the official operator, not a subclass

    first = dag.test()
    states = {ti.task_id: str(ti.state) for ti in first.get_task_instances()}
    # No cluster: the pod task fails; everything before it ran, the consumer never started.
    assert (states["prepare.run"], states["train.reuse"]) == ("success", "success")
    assert states["train.run"] == "failed"
    assert states["report.reuse"] == "upstream_failed"

    plan = _plan(dag.dag_id, first.run_id)
    assert plan["source_directory"] == "/opt/steps/src"  # where the image holds the step's source
    assert plan["parameters"] == {"epochs": 3}
    assert set(plan["inputs"]) == {"prepared"}
    assert set(plan["outputs"]) == {"model"}

    pod = _pod(dag.get_task("train.run"), plan, dag, first.run_id)
    spec = pod.spec
    (container,) = spec.containers
    assert pod.metadata.namespace == "ml"
    assert pod.metadata.name.startswith(f"{name.replace('_', '-')}-train")
    assert pod.metadata.labels["mlpipelines/step"] == "train"
    assert container.image == "registry.example/torch:2.3"  # the environment's image wins
    assert container.command == ["python3", "-m", "airflow_mlpipelines.runtime.step_main"]
    assert [json.loads(arg) for arg in container.args] == [plan]
    assert container.resources.limits == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"}
    assert container.resources.requests == {"cpu": "2", "memory": "8Gi"}
    assert container.image_pull_policy == "IfNotPresent"
    assert spec.node_selector == {"pool": "gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert sorted((t.key, t.operator, t.value, t.effect) for t in spec.tolerations) == [
        ("dedicated", "Equal", "ml", "NoSchedule"),
        ("nvidia.com/gpu", "Exists", None, "NoSchedule"),
    ]
    assert spec.service_account_name == "trainer"
    assert spec.restart_policy == "Never"
    env = {e.name: e for e in container.env}
    assert {k: env[k].value for k in ("ENV_VAR", "TARGET_VAR", "PYTHONUNBUFFERED")} == {
        "ENV_VAR": "e",
        "TARGET_VAR": "1",
        "PYTHONUNBUFFERED": "1",
    }
    secret = env["WANDB_API_KEY"].value_from.secret_key_ref
    assert (secret.name, secret.key) == ("wandb", "api-key")
    assert [e.secret_ref.name for e in container.env_from] == ["s3-creds"]
    volumes = {v.name: v for v in spec.volumes}
    assert volumes["data"].persistent_volume_claim.claim_name == "ml-data"
    assert volumes["cache"].host_path.path == "/var/cache/ml"
    mounts = {m.name: (m.mount_path, m.read_only) for m in container.volume_mounts}
    assert mounts == {"data": ("/mnt/data", False), "cache": ("/cache", True)}
    assert task.get_logs is True
    assert str(task.on_finish_action.value) == "delete_pod"

    # Play the pod: the runtime entrypoint with the plan (the source lives at the host path here).
    local_plan = {**plan, "source_directory": str(folder / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(local_plan)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "committed outputs of train" in done.stdout

    second = dag.test()
    states = {ti.task_id: str(ti.state) for ti in second.get_task_instances()}
    assert str(second.state) == "success", states
    # Reused: the pod task was skipped before execute (which would have failed without a cluster).
    assert (states["prepare.run"], states["train.run"], states["report.run"]) == (
        "skipped",
        "skipped",
        "success",
    )
    (report,) = (
        Path(plan["manifest"]).parents[3].glob(f"workspaceblobstore/{name}/report/*/*/report/data.txt")
    )
    assert report.read_text() == "prepare;3;report;"


def test_missing_kubernetes_provider_is_a_definition_error(
    pipeline: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.exceptions import DefinitionError
    from airflow_mlpipelines.pipeline import load_definition

    folder, name = pipeline
    (spec,) = load_definition(str(folder / f"{name}.yaml"))
    monkeypatch.setitem(sys.modules, "airflow.providers.cncf.kubernetes.operators.pod", None)
    monkeypatch.setitem(sys.modules, "kubernetes.client", None)
    with pytest.raises(DefinitionError) as info:
        render_pipeline(spec)
    assert info.value.step == "train"
    assert info.value.location is not None
    assert info.value.location.file.endswith(f"{name}.yaml")
    assert "compute target 'gpu-cluster' is of kind kubernetes" in str(info.value)
    assert "pip install 'airflow-mlpipelines[kubernetes]'" in str(info.value)
