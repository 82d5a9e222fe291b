"""Seed 004's pipeline written with Azure ML SDK v1 names; only the imports differ from the SDK.

# [START seed004_sdk]
"""

from __future__ import annotations

from airflow_mlpipelines.pipeline import (
    Dataset,
    Datastore,
    Pipeline,
    PipelineData,
    PythonScriptStep,
    RunConfiguration,
    Workspace,
)

ws = Workspace.from_config()
examples_store = Datastore(ws, "examples", url="data")  # url: this provider's addition
def_blob_store = Datastore(ws, "workspaceblobstore")

my_dataset = Dataset.File.from_files([(examples_store, "raw/measurements.csv")])
ds_input = my_dataset.as_named_input("input1")

output_data1 = PipelineData("output_data1", datastore=def_blob_store, output_name="output_data1")
aml_run_config = RunConfiguration()

data_prep_step = PythonScriptStep(
    name="prepare",
    script_name="prepare.py",
    source_directory="./src/dataprep",
    arguments=["--input", ds_input.as_download(), "--output", output_data1],
    inputs=[ds_input],
    outputs=[output_data1],
    compute_target="local",
    runconfig=aml_run_config,
)

training_results = PipelineData(
    name="training_results", datastore=def_blob_store, output_name="training_results"
)
train_step = PythonScriptStep(
    script_name="train.py",
    source_directory="./src/train",
    arguments=["--prepped_data", output_data1.as_input(), "--training_results", training_results],
    compute_target="local",
)

comparison = PipelineData("comparison", datastore=def_blob_store)
compare_step = PythonScriptStep(
    name="compare",
    script_name="compare.py",
    source_directory="./src/compare",
    arguments=["--models", training_results.as_input(), "--output", comparison],
    outputs=[comparison],
)

compare_models = [data_prep_step, train_step, compare_step]
pipeline1 = Pipeline(
    workspace=ws,
    steps=[compare_models],
    name="seed004_sdk",
    description="Seed 004's pipeline in Python with Azure ML SDK v1 names.",
)
# [END seed004_sdk]
