"""Seed 004's sample, as written, with only its imports changed (issue 18, item 1), and the Azure-only
step classes (item 7)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline.python_loader import load_python_pipelines

SAMPLE = """\
import airflow_mlpipelines.pipeline
from airflow_mlpipelines.pipeline import Workspace, Datastore

ws = Workspace.from_config()
def_blob_store = ws.get_default_datastore()

from airflow_mlpipelines.pipeline import Dataset

my_dataset = Dataset.File.from_files([(def_blob_store, 'train-images/')])

from airflow_mlpipelines.pipeline import PipelineData

output_data1 = PipelineData(
    "output_data1",
    datastore=def_blob_store,
    output_name="output_data1")

from airflow_mlpipelines.pipeline import ComputeTarget, AmlCompute

compute_name = "aml-compute"
vm_size = "STANDARD_NC6"
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
    if compute_target and type(compute_target) is AmlCompute:
        print('Found compute target: ' + compute_name)
else:
    print('Creating a new compute target...')
    provisioning_config = AmlCompute.provisioning_configuration(vm_size=vm_size,  # STANDARD_NC6 is GPU-enabled
                                                                min_nodes=0,
                                                                max_nodes=4)
    # create the compute target
    compute_target = ComputeTarget.create(
        ws, compute_name, provisioning_config)

    # Can poll for a minimum number of nodes and for a specific timeout.
    # If no min node count is provided it will use the scale settings for the cluster
    compute_target.wait_for_completion(
        show_output=True, min_node_count=None, timeout_in_minutes=20)

    # For a more detailed view of current cluster status, use the 'status' property
    print(compute_target.status.serialize())

from airflow_mlpipelines.pipeline import RunConfiguration
from airflow_mlpipelines.pipeline import CondaDependencies
from airflow_mlpipelines.pipeline import Environment

aml_run_config = RunConfiguration()
# `compute_target` as defined in "Azure Machine Learning compute" section above
aml_run_config.target = compute_target

USE_CURATED_ENV = True
if USE_CURATED_ENV :
    curated_environment = Environment.get(workspace=ws, name="AzureML-Tutorial")
    aml_run_config.environment = curated_environment
else:
    aml_run_config.environment.python.user_managed_dependencies = False

    # Add some packages relied on by data prep step
    aml_run_config.environment.python.conda_dependencies = CondaDependencies.create(
        conda_packages=['pandas','scikit-learn'],
        pip_packages=['azureml-sdk', 'azureml-dataprep[fuse,pandas]'],
        pin_sdk_version=False)

from airflow_mlpipelines.pipeline import PythonScriptStep
dataprep_source_dir = "./dataprep_src"
entry_point = "prepare.py"
# `my_dataset` as defined above
ds_input = my_dataset.as_named_input('input1')

# `output_data1`, `compute_target`, `aml_run_config` as defined above
data_prep_step = PythonScriptStep(
    script_name=entry_point,
    source_directory=dataprep_source_dir,
    arguments=["--input", ds_input.as_download(), "--output", output_data1],
    inputs=[ds_input],
    outputs=[output_data1],
    compute_target=compute_target,
    runconfig=aml_run_config,
    allow_reuse=True
)

train_source_dir = "./train_src"
train_entry_point = "train.py"

training_results = PipelineData(name = "training_results",
                                datastore=def_blob_store,
                                output_name="training_results")


train_step = PythonScriptStep(
    script_name=train_entry_point,
    source_directory=train_source_dir,
    arguments=["--prepped_data", output_data1.as_input(), "--training_results", training_results],
    compute_target=compute_target,
    runconfig=aml_run_config,
    allow_reuse=True
)

# (compare_step's definition is not shown in the seed; this one reads the training results)
compare_step = PythonScriptStep(
    script_name="compare.py",
    source_directory="./compare_src",
    arguments=["--models", training_results],
    compute_target=compute_target,
)

# list of steps to run (`compare_step` definition not shown)
compare_models = [data_prep_step, train_step, compare_step]

from airflow_mlpipelines.pipeline import Pipeline

# Build the pipeline
pipeline1 = Pipeline(workspace=ws, steps=[compare_models])
"""


def test_the_seed_sample_runs_with_only_its_imports_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seed004.py"
    path.write_text(SAMPLE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (spec,) = load_python_pipelines(str(path))
    out = capsys.readouterr().out
    assert "Creating a new compute target..." in out
    assert "'runsOn': 'local'" in out
    messages = [str(w.message) for w in caught if issubclass(w.category, MLPipelinesWarning)]
    assert any("ComputeTarget.create('aml-compute'" in m and "1 GPU(s)" in m for m in messages), messages
    steps = {s.name: s for s in spec.steps}
    assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]
    # training_results is written by train_step although it lists no outputs= (SDK v1 semantics) ...
    assert [o.name for o in steps["train"].outputs] == ["training_results"]
    assert steps["train"].inputs == ("output_data1",)
    # ... and read by compare_step, which holds it in its arguments after train_step produced it.
    assert steps["compare"].inputs == ("training_results",)
    assert steps["compare"].outputs == ()
    assert {t.name: t.kind for t in spec.compute_targets}["aml-compute"] == "local"


@pytest.mark.parametrize(
    ("name", "instead"),
    [("HyperDriveStep", "Optuna"), ("DatabricksStep", "DatabricksSubmitRunOperator"),
     ("AutoMLStep", "FLAML"), ("NotebookRunnerStep", "papermill"), ("MpiStep", "Kubernetes")],
)  # fmt: skip
def test_azure_only_steps_are_clear_errors(name: str, instead: str) -> None:
    import airflow_mlpipelines.pipeline as sdk

    cls = getattr(sdk, name)
    with pytest.raises(DefinitionError, match=f"{name} is an Azure-only step") as info:
        cls(name="tune", estimator=None)
    assert info.value.step == "tune"
    assert instead in str(info.value.hint)
    assert info.value.location is not None
    assert info.value.location.file == __file__


def test_what_notebooks_print_or_check_on_the_way(tmp_path: Path) -> None:
    import airflow_mlpipelines.core as azureml_core
    from airflow_mlpipelines.pipeline import (
        DEFAULT_CPU_IMAGE,
        DEFAULT_GPU_IMAGE,
        ComputeTargetException,
        Pipeline,
        PythonScriptStep,
        StepSequence,
        Workspace,
    )

    assert azureml_core.VERSION.startswith("0.")
    ws = Workspace.get("my-ws", subscription_id="sub", resource_group="rg")
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == ("my-ws", "sub", "rg", "local")
    assert "cuda" in DEFAULT_GPU_IMAGE
    assert DEFAULT_CPU_IMAGE.startswith("python:")
    assert issubclass(ComputeTargetException, Exception)
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.py").write_text("")
    steps = [PythonScriptStep(f"{n}.py", name=n, source_directory=str(tmp_path)) for n in ("a", "b", "c")]
    pipeline = Pipeline(ws, steps=StepSequence(steps=steps), name="sequence")
    assert pipeline.validate() == []
    spec = pipeline.to_spec()
    assert [s.name for s in spec.steps] == ["a", "b", "c"]
    assert (spec.step("b").run_after, spec.step("c").run_after) == (("a",), ("b",))
    broken = Pipeline(ws, steps=[PythonScriptStep("x.py", name="bad name", source_directory=str(tmp_path))])
    (problem,) = broken.validate()
    assert "invalid step name 'bad name'" in problem
