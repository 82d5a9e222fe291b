"""Azure ML SDK v1 code (seed 004's shape) builds the model with only its imports changed."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import (
    Dataset,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    RunConfiguration,
    Workspace,
    load_python_pipelines,
)
from airflow_mlpipelines.pipeline.model import Ref

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _seed004() -> tuple[Pipeline, PythonScriptStep]:
    ws = Workspace.from_config()
    def_blob_store = Datastore(ws, "workspaceblobstore")
    my_dataset = Dataset.File.from_files([(def_blob_store, "train-images/")])
    ds_input = my_dataset.as_named_input("input1")
    output_data1 = PipelineData("output_data1", datastore=def_blob_store, output_name="output_data1")
    lr = PipelineParameter(name="learning_rate", default_value=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MLPipelinesWarning)
        prep = PythonScriptStep(
            script_name="prepare.py",
            source_directory="./dataprep_src",
            arguments=["--input", ds_input.as_download(), "--output", output_data1],
            inputs=[ds_input],
            outputs=[output_data1],
            compute_target="cpu-cluster",
            runconfig=RunConfiguration(),
            allow_reuse=True,
        )
        training_results = PipelineData(name="training_results", datastore=def_blob_store)
        train = PythonScriptStep(
            script_name="train.py",
            source_directory="./train_src",
            arguments=["--prepped_data", output_data1.as_input(), "--lr", lr, "--out", training_results],
            outputs=[training_results],
        )
        compare = PythonScriptStep(
            name="compare", script_name="compare.py", arguments=["--m", training_results.as_input()]
        )
    return Pipeline(workspace=ws, steps=[[prep, train], compare]), compare


class TestSeed004Shape:
    def test_builds_the_model(self) -> None:
        pipeline, _ = _seed004()
        spec = pipeline.to_spec(name="seed")
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]
        prep, train, compare = spec.steps
        assert prep.inputs == ("input1",)
        assert prep.arguments[1].parts == (Ref("input", "input1"),)
        assert prep.arguments[3].parts == (Ref("output", "output_data1"),)
        assert prep.source_directory == str(HERE / "dataprep_src")
        assert prep.compute.name == "cpu-cluster"
        assert train.inputs == ("output_data1",)
        assert train.arguments[3].parts == (Ref("parameter", "learning_rate"),)
        assert compare.inputs == ("training_results",)
        assert [(p.name, p.default, p.type) for p in spec.parameters] == [("learning_rate", 0.01, "number")]
        assert [(d.name, d.paths, d.mode) for d in spec.datasets] == [
            ("input1", ("train-images/",), "download")
        ]

    def test_closure_pulls_in_producers(self) -> None:
        _, compare = _seed004()
        spec = Pipeline(steps=[compare], name="closure").to_spec()
        assert {s.name for s in spec.steps} == {"prepare", "train", "compare"}

    def test_without_closure_the_input_dangles(self) -> None:
        _, compare = _seed004()
        with pytest.raises(DefinitionError, match="input 'training_results' is not produced"):
            Pipeline(steps=[compare], resolve_closure=False).to_spec()

    def test_run_after(self) -> None:
        a = PythonScriptStep(script_name="a.py")
        b = PythonScriptStep(script_name="b.py")
        b.run_after(a)
        spec = Pipeline(steps=[b, a]).to_spec()
        assert [s.name for s in spec.steps] == ["a", "b"]

    def test_relative_datastore_url_resolves_against_the_defining_file(self) -> None:
        store = Datastore(None, "local", url="data")
        ds = Dataset.File.from_files([(store, "x.csv")]).as_named_input("x")
        spec = Pipeline(steps=[PythonScriptStep(script_name="a.py", arguments=[ds])]).to_spec()
        assert spec.datastores[0].url == str(HERE / "data")


class TestWarningsAndErrors:
    @pytest.mark.parametrize(
        ("kwargs", "fragment"),
        [
            ({"compute_target": "gpu-cluster"}, "compute_target 'gpu-cluster' has no effect yet"),
            ({"runconfig": RunConfiguration()}, "runconfig only counts for reuse yet"),
            ({"params": {"a": 1}}, "params has no effect yet"),
        ],
    )
    def test_no_effect_arguments_warn_at_the_users_line(
        self, kwargs: dict[str, object], fragment: str
    ) -> None:
        with pytest.warns(MLPipelinesWarning, match=fragment) as record:
            PythonScriptStep(script_name="a.py", **kwargs)  # type: ignore[arg-type]
        assert record[0].filename == __file__

    def test_defaults_do_not_warn(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            PythonScriptStep(
                script_name="a.py", compute_target="local", allow_reuse=False, hash_paths=["x"], version="2"
            )

    def test_unsupported_argument_names_the_line(self) -> None:
        step = PythonScriptStep(script_name="a.py", arguments=[object()])
        line = step.location.line
        with pytest.raises(DefinitionError, match="unsupported argument") as info:
            Pipeline(steps=[step]).to_spec()
        assert info.value.location is not None
        assert info.value.location.file == __file__
        assert info.value.location.line == line

    def test_web_dataset_url_is_rejected(self) -> None:
        with pytest.raises(DefinitionError, match="unsupported dataset path"):
            Dataset.File.from_files("https://example.invalid/data.csv")


class TestPythonLoader:
    def test_example_module(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MLPipelinesWarning)
            (spec,) = load_python_pipelines(str(REPO / "dags_examples" / "definitions" / "seed004_sdk.py"))
        assert spec.name == "seed004_sdk"
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]

    def test_two_pipelines_named_after_variables(self, tmp_path: Path) -> None:
        module = tmp_path / "two.py"
        module.write_text(
            "from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep\n"
            "first = Pipeline(steps=[PythonScriptStep(script_name='a.py')])\n"
            "second = Pipeline(steps=[PythonScriptStep(script_name='b.py')])\n"
        )
        assert sorted(s.name for s in load_python_pipelines(str(module))) == ["two_first", "two_second"]

    def test_module_without_pipeline(self, tmp_path: Path) -> None:
        module = tmp_path / "empty.py"
        module.write_text("x = 1\n")
        with pytest.raises(DefinitionError, match="defines no Pipeline"):
            load_python_pipelines(str(module))

    def test_module_that_raises_names_its_line(self, tmp_path: Path) -> None:
        module = tmp_path / "boom.py"
        module.write_text("x = 1\n\nraise ValueError('bad config')\n")
        with pytest.raises(DefinitionError, match="raised ValueError: bad config") as info:
            load_python_pipelines(str(module))
        assert info.value.location is not None
        assert (info.value.location.file, info.value.location.line) == (str(module), 3)
        assert os.path.basename(module) in str(info.value)
