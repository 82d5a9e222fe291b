"""An Azure ML SDK v1 pipeline YAML file, unchanged, on a real Airflow: loaded with ``Pipeline.load_yaml``
and submitted, and dropped into the DAGs folder as a DAG (dag.test()): data references, a datapath
parameter, PipelineData between steps, parameters, a CommandStep, and reuse on the second run."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from airflow_mlpipelines.exceptions import MLPipelinesWarning

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

# Written like the SDK v1 documentation's samples (reference-pipeline-yaml, Pipeline.load_yaml).
DEFINITION = """\
pipeline:
    name: SamplePipelineFromYaml
    description: Sample multistep YAML pipeline
    parameters:
        NumIterationsParameter:
            type: int
            default: 40
        DataPathParameter:
            type: datapath
            default:
                datastore: workspaceblobstore
                path_on_datastore: {prefix}/sample2.txt
    data_references:
        DataReference1:
            datastore: workspaceblobstore
            path_on_datastore: {prefix}/sample.txt
    default_compute: cpu-cluster
    steps:
        Training:
            type: "PythonScriptStep"
            name: "Training Step"
            compute: cpu-cluster
            runconfig: ".\\\\default_runconfig.yml"
            script_name: "train.py"
            source_directory: scripts
            arguments:
            - "--train_path"
            - input:train_path
            - "--model"
            - output:model
            inputs:
                train_path:
                    source: train_csv
                    bind_mode: download
            outputs:
                model:
                    destination: model_dir
                    datastore: workspaceblobstore
        Dataprep:
            type: "PythonScriptStep"
            name: "DataPrep Step"
            script_name: "prep.py"
            source_directory: scripts
            allow_reuse: True
            arguments:
            - '--input'
            - input:raw
            - '--extra'
            - input:extra
            - '--train_path'
            - output:train_path
            - '--iterations'
            - parameter:NUM_ITERATIONS
            parameters:
                NUM_ITERATIONS:
                    source: NumIterationsParameter
            inputs:
                raw:
                    source: DataReference1
                    bind_mode: download
                extra:
                    source: DataPathParameter
            outputs:
                train_path:
                    destination: train_csv
                    datastore: workspaceblobstore
        Package:
            type: CommandStep
            command: ["sh", "package.sh", "input:model", "output:bundle"]
            source_directory: scripts
            inputs:
                model:
                    source: model_dir
            outputs:
                bundle:
                    destination: bundle_dir
"""

PREP = """\
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--input")
p.add_argument("--extra")
p.add_argument("--train_path")
p.add_argument("--iterations", type=int)
a = p.parse_args()
text = open(a.input).read() + open(a.extra).read() + str(a.iterations)
open(os.path.join(a.train_path, "train.csv"), "w").write(text)
"""

TRAIN = """\
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--train_path")
p.add_argument("--model")
a = p.parse_args()
data = open(os.path.join(a.train_path, "train.csv")).read()
open(os.path.join(a.model, "model.txt"), "w").write("model(" + data + ")")
"""

PACKAGE = 'cp "$1/model.txt" "$2/packaged.txt"\n'


@pytest.fixture
def definition(scratch_dags: Path, airflow_home: Path) -> tuple[Path, str]:
    name = f"sdkyaml_{scratch_dags.name}"[:60]
    prefix = f"inputs_{name}"
    path = scratch_dags / f"{name}.yaml"
    path.write_text(DEFINITION.format(prefix=prefix))
    scripts = scratch_dags / "scripts"
    scripts.mkdir()
    (scripts / "prep.py").write_text(PREP)
    (scripts / "train.py").write_text(TRAIN)
    (scripts / "package.sh").write_text(PACKAGE)
    data = airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore" / prefix
    data.mkdir(parents=True)
    (data / "sample.txt").write_text("a,b;")
    (data / "sample2.txt").write_text("c;")
    return path, name


def _outputs(home: Path, name: str, step: str, output: str, file: str) -> list[str]:
    root = home / "mlpipelines" / "datastore" / "workspaceblobstore"
    return sorted(p.read_text() for p in root.glob(f"{name}/{step}/*/*/{output}/{file}"))


def test_load_yaml_and_submit_locally(definition: tuple[Path, str], airflow_home: Path) -> None:
    from airflow_mlpipelines.core import Experiment
    from airflow_mlpipelines.pipeline import Pipeline, Workspace

    path, name = definition
    ws = Workspace.from_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MLPipelinesWarning)
        pipeline = Pipeline.load_yaml(ws, str(path))
        run = Experiment(ws, "sample").submit(
            pipeline, pipeline_parameters={"NumIterationsParameter": 7}, local=True
        )
    assert run.wait_for_completion(show_output=False) == "Finished"
    assert sorted(s.name for s in run.get_steps()) == ["Dataprep", "Package", "Training"]
    assert _outputs(airflow_home, name, "Package", "bundle_dir", "packaged.txt") == ["model(a,b;c;7)"]


def test_dropped_into_the_dags_folder_it_is_a_dag_that_runs_and_reuses(
    definition: tuple[Path, str], airflow_home: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    path, name = definition
    (path.parent / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=path.name))
    bag = DagBag(str(path.parent))
    assert bag.import_errors == {}
    dag = bag.dags[name]
    assert dag.description == "Sample multistep YAML pipeline"
    assert dag.params["NumIterationsParameter"] == 40

    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert _outputs(airflow_home, name, "Dataprep", "train_csv", "train.csv") == ["a,b;c;40"]
    assert _outputs(airflow_home, name, "Package", "bundle_dir", "packaged.txt") == ["model(a,b;c;40)"]

    again = dag.test()
    states = {ti.task_id: str(ti.state) for ti in again.get_task_instances()}
    assert again.state == "success", states
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {
        "Dataprep.run": "skipped",
        "Training.run": "skipped",
        "Package.run": "skipped",
    }


def test_a_datapath_parameter_is_chosen_per_run(definition: tuple[Path, str], airflow_home: Path) -> None:
    """SDK v1's ``type: datapath`` parameter: a run's conf names another path, and only its consumers
    re-run (the fingerprint follows the data)."""
    from airflow.dag_processing.dagbag import DagBag

    path, name = definition
    prefix = f"inputs_{name}"
    other = airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore" / prefix / "sample3.txt"
    other.write_text("d;")
    (path.parent / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=path.name))
    dag = DagBag(str(path.parent)).dags[name]
    assert dag.params["DataPathParameter"] == {
        "datastore": "workspaceblobstore",
        "path_on_datastore": f"{prefix}/sample2.txt",
    }
    assert dag.test().state == "success"
    run = dag.test(run_conf={"DataPathParameter": f"workspaceblobstore/{prefix}/sample3.txt"})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["Dataprep.run"] == "success"
    assert "model(a,b;d;40)" in _outputs(airflow_home, name, "Package", "bundle_dir", "packaged.txt")
