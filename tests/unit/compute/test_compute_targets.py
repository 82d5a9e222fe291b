"""Compute targets and environments: the SDK names, their model, fingerprint content, and the Docker
operator arguments built from a target (no daemon needed to build them)."""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from airflow_mlpipelines.cli import main
from airflow_mlpipelines.compute.base import quantity_bytes, quantity_cpus, runtime_command
from airflow_mlpipelines.compute.docker import KIND as DOCKER
from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import load_yaml_pipeline
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, VolumeSpec, step_environment, step_target
from airflow_mlpipelines.pipeline.model import DatastoreSpec
from airflow_mlpipelines.pipeline.sdk import CondaDependencies, Environment, RunConfiguration
from airflow_mlpipelines.pipeline.sdk_compute import ComputeTarget, DockerConfiguration
from airflow_mlpipelines.pipeline.sdk_steps import Pipeline, PythonScriptStep
from airflow_mlpipelines.pipeline.step_task import StepTask


class TestSdkTargets:
    def test_declared_target_object_and_reference_by_name(self) -> None:
        gpu = ComputeTarget.kubernetes(
            "gpu-cluster", image="repo/train:1", gpu_count=2, node_selector={"a": "b"}
        )
        first = PythonScriptStep("a.py", name="a", compute_target=gpu)
        second = PythonScriptStep("b.py", name="b", compute_target="gpu-cluster")
        third = PythonScriptStep("c.py", name="c", compute_target=ComputeTarget(None, "gpu-cluster"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            spec = Pipeline(steps=[first, second, third]).to_spec()
        assert [step_target(spec, s).name for s in spec.steps] == ["gpu-cluster"] * 3
        (target,) = spec.compute_targets
        assert (target.kind, target.image, target.gpu_count, target.node_selector) == (
            "kubernetes",
            "repo/train:1",
            2,
            (("a", "b"),),
        )

    def test_unknown_name_is_an_error_once_targets_are_declared(self) -> None:
        gpu = ComputeTarget.docker("gpu-docker", image="x:1", gpu_count=1)
        step = PythonScriptStep("a.py", compute_target="gpu-dockr")
        with pytest.raises(DefinitionError, match="unknown compute target 'gpu-dockr'") as info:
            Pipeline(steps=[step], compute_targets=[gpu]).to_spec()
        assert info.value.hint == "did you mean 'gpu-docker'?"
        assert info.value.step == "a"
        assert info.value.location is not None
        assert info.value.location.file == __file__

    def test_same_name_two_settings_is_an_error(self) -> None:
        a = PythonScriptStep("a.py", compute_target=ComputeTarget.docker("box", image="x:1"))
        b = PythonScriptStep("b.py", compute_target=ComputeTarget.docker("box", image="x:2"))
        with pytest.raises(DefinitionError, match="compute target 'box' is declared twice"):
            Pipeline(steps=[a, b]).to_spec()

    def test_gpu_on_a_local_target_is_an_error(self) -> None:
        step = PythonScriptStep(
            "a.py", compute_target=ComputeTarget._declare("cpu", "local", {"gpu_count": 1})
        )
        with pytest.raises(DefinitionError, match="compute target 'cpu' is local but requests 1 GPU"):
            Pipeline(steps=[step]).to_spec()

    def test_runconfig_environment_target_and_use_docker(self) -> None:
        run = RunConfiguration()
        run.environment = Environment("train-env")
        run.environment.docker.base_image = "repo/py:3.11"
        run.environment.python.conda_dependencies = CondaDependencies.create(
            pip_packages=["scikit-learn==1.5"], conda_packages=["pandas"]
        )
        run.environment.environment_variables = {"OMP_NUM_THREADS": "1"}
        run.docker = DockerConfiguration(use_docker=True)
        spec = Pipeline(steps=[PythonScriptStep("a.py", runconfig=run)]).to_spec()
        (step,) = spec.steps
        assert (step_target(spec, step).name, step_target(spec, step).kind) == ("local-docker", "docker")
        assert step_environment(spec, step) == {
            "image": "repo/py:3.11",
            "pip": ["scikit-learn==1.5"],
            "conda": ["pandas"],
            "env": {"OMP_NUM_THREADS": "1"},
        }

    def test_runconfig_target_is_used_without_compute_target(self) -> None:
        run = RunConfiguration()
        run.target = ComputeTarget.docker("box", image="x:1")
        spec = Pipeline(steps=[PythonScriptStep("a.py", runconfig=run)]).to_spec()
        assert step_target(spec, spec.steps[0]).kind == "docker"
        assert step_environment(spec, spec.steps[0]) == {"image": "x:1"}

    def test_use_docker_without_an_image_is_an_error(self) -> None:
        run = RunConfiguration()
        run.docker = DockerConfiguration(use_docker=True)
        with pytest.raises(
            DefinitionError, match="neither the target nor the step's environment names an image"
        ):
            Pipeline(steps=[PythonScriptStep("a.py", runconfig=run)]).to_spec()

    def test_misspelt_setting_is_a_definition_error_at_the_users_line(self) -> None:
        with pytest.raises(DefinitionError) as info:
            ComputeTarget.docker("gpu", image="x:1", gpu_cout=1)  # the line the error names
        line = sys._getframe().f_lineno - 1
        assert info.value.location is not None
        assert (info.value.location.file, info.value.location.line) == (__file__, line)
        assert info.value.field == "compute_targets.gpu.gpu_cout"
        assert info.value.hint == "did you mean 'gpu_count'?"
        assert "ComputeTarget.docker('gpu', ...): unknown argument 'gpu_cout'" in str(info.value)
        assert "TypeError" not in str(info.value)

    def test_every_bad_setting_is_listed_with_its_value(self) -> None:
        with pytest.raises(DefinitionError) as info:
            ComputeTarget.kubernetes("k", image="x", gpu_count="lots", tolerations=[{"keyy": "a"}])
        text = str(info.value)
        assert "'gpu_count': Input should be a valid integer" in text
        assert "(got 'lots')" in text
        assert "unknown argument 'tolerations.keyy'" in text
        assert info.value.hint == "did you mean 'key'?"

    def test_python_targets_match_yaml_targets(self, tmp_path: Path) -> None:
        sdk = ComputeTarget.kubernetes(
            "k",
            image="x:1",
            gpu_count=2,
            cpu_limit=4,
            node_selector={"pool": "gpu"},
            volumes=[VolumeSpec("d", "/mnt/d", claim="c")],
        ).spec(None)
        path = tmp_path / "p.yaml"
        path.write_text(
            "compute_targets:\n  k: {kind: kubernetes, image: 'x:1', gpu_count: 2, cpu_limit: 4,\n"
            "      node_selector: {pool: gpu}, volumes: [{name: d, mount_path: /mnt/d, claim: c}]}\n"
            "steps:\n  - {name: a, script: a.py, compute: k}\n"
        )
        (yaml_target,) = load_yaml_pipeline(str(path)).compute_targets
        assert replace(sdk, location=None) == replace(yaml_target, location=None)

    def test_local_step_environment_is_unchanged_for_fingerprints(self) -> None:
        spec = Pipeline(steps=[PythonScriptStep("a.py")]).to_spec()
        assert step_environment(spec, spec.steps[0]) == {}
        assert step_target(spec, spec.steps[0]).kind == "local"


def _task(target: ComputeTargetSpec, **kwargs: object) -> StepTask:
    values: dict[str, object] = {
        "pipeline": "p",
        "step": "train",
        "kind": "python_script",
        "script_name": "train.py",
        "source_directory": "/dags/src",
        "target": target,
        **kwargs,
    }
    return StepTask(**values)  # type: ignore[arg-type]


class TestDockerArguments:
    def test_gpu_limits_mounts_env(self) -> None:
        from docker.types import DeviceRequest

        target = ComputeTargetSpec(
            "gpu",
            kind="docker",
            image="x:1",
            gpu_count=-1,
            memory_limit="2Gi",
            cpu_limit="1500m",
            env=(("A", "1"),),
            volumes=(VolumeSpec("models", "/models", host_path="/srv/models", read_only=True),),
            network_mode="none",
        )
        task = _task(
            target,
            image="x:2",
            env_vars=(("B", "2"),),
            datastores=(
                DatastoreSpec("root", "/data/root"),
                DatastoreSpec("sub", "/data/root/sub"),
                DatastoreSpec("other", "/other"),
                DatastoreSpec("blob", "s3://c@b/x"),
            ),
        )
        spec = DOCKER.task_spec(task)
        kw = spec.kwargs
        assert spec.operator_class == "airflow.providers.docker.operators.docker.DockerOperator"
        assert kw["image"] == "x:2"
        assert kw["command"] == runtime_command("train")
        assert kw["command"][-1] == "{{ ti.xcom_pull(task_ids='train.reuse', key='mlp_plan') | tojson }}"
        assert kw["device_requests"] == [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        assert (kw["mem_limit"], kw["cpus"], kw["network_mode"]) == (2 * 1024**3, 1.5, "none")
        assert kw["environment"] == {
            "A": "1",
            "B": "2",
            "PYTHONUNBUFFERED": "1",
            # Credentials of remote datastores are rendered from the plan at run time (and masked).
            "MLP_STORAGE_CONNECTIONS": "{{ ti.xcom_pull(task_ids='train.reuse', key='mlp_plan') "
            "| mlp_storage_connections }}",
        }
        assert "user" not in kw  # decided at run time: the plan's run_as, applied by the entrypoint
        assert (kw["auto_remove"], kw["mount_tmp_dir"], kw["do_xcom_push"]) == ("success", False, False)
        mounts = {m["Target"]: (m["Source"], m["Type"], m["ReadOnly"]) for m in kw["mounts"]}
        root = "{{ ti.xcom_pull(task_ids='train.reuse', key='mlp_plan')['mounts']['%s'] }}"
        assert mounts == {
            "/data/root": ("/data/root", "bind", False),
            "/other": ("/other", "bind", False),
            "/dags/src": ("/dags/src", "bind", True),
            "/models": ("/srv/models", "bind", True),
            # The configured datastore root: a slot filled from the plan (settings are never read at parse).
            root % "root_target": (root % "root_source", "bind", False),
        }

    def test_no_gpu_no_device_requests(self) -> None:
        spec = DOCKER.task_spec(_task(ComputeTargetSpec("box", kind="docker", image="x:1")))
        assert "device_requests" not in spec.kwargs

    @pytest.mark.parametrize(
        ("text", "value"),
        [("512Mi", 512 * 1024**2), ("1G", 10**9), ("1000", 1000), ("1.5Gi", int(1.5 * 1024**3))],
    )
    def test_memory_quantities(self, text: str, value: int) -> None:
        assert quantity_bytes(text) == value

    def test_cpu_quantities(self) -> None:
        assert (quantity_cpus("250m"), quantity_cpus("2")) == (0.25, 2.0)


class TestDockerfileCommand:
    def test_writes_a_build_context_per_image(self, tmp_path: Path) -> None:
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "train.py").write_text("print(1)\n")
        definition = tmp_path / "p.yaml"
        definition.write_text(
            "name: p\n"
            "compute_targets:\n"
            "  gpu: {kind: kubernetes, image: 'repo/base:1', source_path: /opt/src}\n"
            "environments:\n"
            "  torch: {image: 'repo/torch:2', pip: [torch==2.3.0], env: {A: '1'}}\n"
            "steps:\n"
            "  - {name: a, script: train.py, source_directory: src, compute: gpu, environment: torch}\n"
            "  - {name: b, script: train.py, source_directory: src}\n"
        )
        assert main(["dockerfile", str(definition), str(tmp_path / "out"), "--base", "python:3.11"]) == 0
        (context,) = (tmp_path / "out").iterdir()
        assert context.name == "repo_torch_2"
        text = (context / "Dockerfile").read_text()
        assert "FROM python:3.11\n" in text
        assert "docker build -t repo/torch:2 ." in text
        assert "ENV A='1'" in text
        assert "COPY steps/0/ /opt/src/" in text
        assert (context / "requirements.txt").read_text().split() == ["fsspec", "torch==2.3.0"]
        assert (context / "site" / "airflow_mlpipelines" / "runtime" / "step_main.py").is_file()
        assert (context / "steps" / "0" / "train.py").is_file()

    def test_yaml_environment_on_local_step_warns(self, tmp_path: Path) -> None:
        path = tmp_path / "p.yaml"
        path.write_text("steps:\n  - {name: a, script: a.py, environment: {image: 'x:1'}}\n")
        with pytest.warns(MLPipelinesWarning, match="environment only counts for reuse on the local target"):
            load_yaml_pipeline(str(path))
