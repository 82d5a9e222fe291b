"""Azure ML SDK v1 code (seed 004's shape) builds the model with only its imports changed."""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning, SourceLocation
from airflow_mlpipelines.pipeline import (
    CondaDependencies,
    Dataset,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    RunConfiguration,
    Workspace,
    load_definition,
    load_python_pipelines,
)
from airflow_mlpipelines.pipeline.model import (
    Argument,
    ComputeSpec,
    DatasetSpec,
    DatastoreSpec,
    OutputSpec,
    ParameterSpec,
    Ref,
)
from airflow_mlpipelines.pipeline.validate import step_upstream

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXAMPLES = REPO / "dags_examples" / "definitions"
THIS_FILE = __file__


def _line() -> int:
    """The caller's current line: ``line = _line(); call(...)`` on consecutive lines gives ``line + 1``."""
    return sys._getframe(1).f_lineno


def _in(name: str) -> Argument:
    return Argument((Ref("input", name),))


def _out(name: str) -> Argument:
    return Argument((Ref("output", name),))


def _txt(text: str) -> Argument:
    return Argument((text,))


class _Seed004:
    """Seed 004's code, as written for ``azureml.pipeline`` (only the imports differ)."""

    def __init__(self) -> None:
        ws = Workspace.from_config()
        def_blob_store = Datastore(ws, "workspaceblobstore")
        my_dataset = Dataset.File.from_files([(def_blob_store, "train-images/")])
        ds_input = my_dataset.as_named_input("input1")
        output_data1 = PipelineData("output_data1", datastore=def_blob_store, output_name="output_data1")
        lr = PipelineParameter(name="learning_rate", default_value=0.01)
        self.prep_line = _line() + 1
        self.prep = PythonScriptStep(
            name="prepare",
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
        self.train_line = _line() + 1
        self.train = PythonScriptStep(
            script_name="train.py",
            source_directory="./train_src",
            arguments=["--prepped_data", output_data1.as_input(), "--lr", lr, "--out", training_results],
            outputs=[training_results],
        )
        self.compare_line = _line() + 1
        self.compare = PythonScriptStep(
            name="compare", script_name="compare.py", arguments=["--m", training_results.as_input()]
        )
        self.pipeline_line = _line() + 1
        self.pipeline = Pipeline(workspace=None, steps=[[self.prep, self.train], self.compare])


class TestSeed004Shape:
    def test_builds_the_model(self) -> None:
        seed = _Seed004()
        spec = seed.pipeline.to_spec(name="seed")
        assert spec.name == "seed"
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]
        prep, train, compare = spec.steps
        assert prep.script_name == "prepare.py"
        assert prep.inputs == ("input1",)
        assert prep.arguments == (_txt("--input"), _in("input1"), _txt("--output"), _out("output_data1"))
        assert prep.outputs == (OutputSpec("output_data1", "workspaceblobstore"),)
        assert prep.source_directory == str(HERE / "dataprep_src")
        assert (prep.compute, prep.allow_reuse) == (ComputeSpec("cpu-cluster"), True)
        assert train.inputs == ("output_data1",)
        assert train.arguments == (
            _txt("--prepped_data"),
            _in("output_data1"),
            _txt("--lr"),
            Argument((Ref("parameter", "learning_rate"),)),
            _txt("--out"),
            _out("training_results"),
        )
        assert train.source_directory == str(HERE / "train_src")
        assert train.compute == ComputeSpec("local")
        assert compare.inputs == ("training_results",)
        assert compare.source_directory == str(HERE)
        assert spec.parameters == (ParameterSpec("learning_rate", 0.01, "number"),)
        assert spec.datasets == (
            DatasetSpec(
                "input1",
                "workspaceblobstore",
                ("train-images/",),
                mode="download",
                kind="file",
                location=spec.datasets[0].location,
            ),
        )
        assert spec.datastores == (DatastoreSpec("workspaceblobstore"),)
        assert step_upstream(spec) == {"prepare": (), "train": ("prepare",), "compare": ("train",)}

    def test_locations_point_at_the_defining_lines(self) -> None:
        seed = _Seed004()
        spec = seed.pipeline.to_spec(name="seed")
        lines = {s.name: s.location for s in spec.steps}
        assert lines == {
            "prepare": SourceLocation(THIS_FILE, seed.prep_line),
            "train": SourceLocation(THIS_FILE, seed.train_line),
            "compare": SourceLocation(THIS_FILE, seed.compare_line),
        }
        assert spec.source == SourceLocation(THIS_FILE, seed.pipeline_line)

    def test_undeclared_target_runs_locally_with_a_warning(self) -> None:
        seed = _Seed004()
        with pytest.warns(MLPipelinesWarning) as record:
            spec = seed.pipeline.to_spec(name="seed")
        assert [str(w.message) for w in record] == [
            "step 'prepare': compute_target 'cpu-cluster' is not declared: the step runs as a local "
            "process (declare it with ComputeTarget.docker/kubernetes/local(...))",
        ]
        assert {(w.filename, w.lineno) for w in record} == {(THIS_FILE, seed.prep_line)}
        assert [(t.name, t.kind) for t in spec.compute_targets] == [("cpu-cluster", "local")]

    def test_closure_pulls_in_producers(self) -> None:
        seed = _Seed004()
        spec = Pipeline(steps=[seed.compare], name="closure").to_spec()
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]
        assert spec.name == "closure"
        assert [d.name for d in spec.datasets] == ["input1"]
        assert [p.name for p in spec.parameters] == ["learning_rate"]

    def test_closure_from_a_middle_step(self) -> None:
        seed = _Seed004()
        spec = Pipeline(steps=[seed.train]).to_spec()
        assert [s.name for s in spec.steps] == ["prepare", "train"]

    def test_without_closure_the_input_dangles(self) -> None:
        seed = _Seed004()
        with pytest.raises(DefinitionError, match="input 'training_results' is not produced") as info:
            Pipeline(steps=[seed.compare], resolve_closure=False).to_spec()
        error = info.value
        assert (error.step, error.field) == ("compare", "inputs")
        assert error.location == SourceLocation(THIS_FILE, seed.compare_line)
        assert str(error).startswith(f"{THIS_FILE}:{seed.compare_line}, step 'compare'")

    @pytest.mark.parametrize(
        "shape",
        [
            lambda a, b, c: [a, b, c],
            lambda a, b, c: [[a, b], c],
            lambda a, b, c: [[[c]], (b, [a])],
            lambda a, b, c: ([c, b], a),
        ],
        ids=["flat", "nested", "deep", "tuples"],
    )
    def test_nested_step_lists(self, shape: object) -> None:
        seed = _Seed004()
        steps = shape(seed.prep, seed.train, seed.compare)  # type: ignore[operator]
        spec = Pipeline(steps=steps, resolve_closure=False).to_spec()
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]

    def test_a_step_listed_twice_is_one_step(self) -> None:
        seed = _Seed004()
        group = [seed.prep, seed.train, seed.compare]
        spec = Pipeline(steps=[group, seed.train, [seed.compare]]).to_spec()
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]

    def test_compiles_twice_to_the_same_model(self) -> None:
        seed = _Seed004()
        assert seed.pipeline.to_spec(name="x") == seed.pipeline.to_spec(name="x")


class TestSteps:
    @pytest.mark.parametrize(
        ("script", "name"), [("train.py", "train"), ("sub/dir/eval_model.py", "eval_model"), ("run", "run")]
    )
    def test_default_name_from_script_name(self, script: str, name: str) -> None:
        spec = Pipeline(steps=[PythonScriptStep(script_name=script)]).to_spec()
        assert (spec.steps[0].name, spec.steps[0].script_name) == (name, script)

    def test_explicit_name_wins(self) -> None:
        spec = Pipeline(steps=[PythonScriptStep("train.py", name="fit")]).to_spec()
        assert spec.steps[0].name == "fit"

    def test_source_directory_relative_to_the_defining_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)  # the working directory must not matter
        steps = [
            PythonScriptStep("a.py", source_directory="src/a"),
            PythonScriptStep("b.py", source_directory="../b"),
            PythonScriptStep("c.py", source_directory="/abs/c"),
            PythonScriptStep("d.py"),
        ]
        spec = Pipeline(steps=steps).to_spec()
        assert [s.source_directory for s in spec.steps] == [
            str(HERE / "src" / "a"),
            str(HERE.parent / "b"),
            "/abs/c",
            str(HERE),
        ]

    def test_pipeline_default_source_directory_and_base_dir(self) -> None:
        steps = [PythonScriptStep("a.py"), PythonScriptStep("b.py", source_directory="own")]
        pipeline = Pipeline(steps=steps, default_source_directory="shared")
        assert [s.source_directory for s in pipeline.to_spec().steps] == [
            str(HERE / "shared"),
            str(HERE / "own"),
        ]
        assert [s.source_directory for s in pipeline.to_spec(base_dir="/base").steps] == [
            "/base/shared",
            "/base/own",
        ]

    def test_scalar_arguments_become_text_like_str(self) -> None:
        step = PythonScriptStep("a.py", arguments=["--n", 3, 0.5, True, "x y"])
        spec = Pipeline(steps=[step]).to_spec()
        assert spec.steps[0].arguments == tuple(_txt(t) for t in ("--n", "3", "0.5", "True", "x y"))

    def test_pipeline_data_consumed_every_way(self) -> None:
        d1, d2, d3, d4 = (PipelineData(f"d{i}") for i in range(1, 5))
        producer = PythonScriptStep("p.py", arguments=[d1, d2, d3, d4], outputs=[d1, d2, d3, d4])
        consumer = PythonScriptStep("c.py", arguments=[d1, d2.as_input(), d3.as_download(), d4.as_mount("x")])
        spec = Pipeline(steps=[consumer, producer]).to_spec()
        assert spec.step("p").arguments == tuple(_out(f"d{i}") for i in range(1, 5))
        assert spec.step("c").arguments == tuple(_in(f"d{i}") for i in range(1, 5))
        assert spec.step("c").inputs == ("d1", "d2", "d3", "d4")
        assert [s.name for s in spec.steps] == ["p", "c"]

    def test_inputs_only_through_the_inputs_list(self) -> None:
        data = PipelineData("d")
        producer = PythonScriptStep("p.py", outputs=[data])
        consumer = PythonScriptStep("c.py", inputs=[data.as_input()])
        spec = Pipeline(steps=[consumer]).to_spec()
        assert [s.name for s in spec.steps] == ["p", "c"]
        assert spec.step("c").inputs == ("d",)
        assert spec.step("c").arguments == ()
        assert producer.name == "p"

    def test_outputs_and_their_datastores(self) -> None:
        scratch = Datastore(None, "scratch", url="/scratch")
        a = PipelineData("a")
        b = PipelineData("b", datastore=scratch, output_name="bee", output_mode="upload")
        spec = Pipeline(steps=[PythonScriptStep("p.py", outputs=[a, b])]).to_spec()
        assert spec.steps[0].outputs == (OutputSpec("a", "workspaceblobstore"), OutputSpec("b", "scratch"))
        assert spec.datastores == (DatastoreSpec("scratch", "/scratch"),)
        assert b.output_name == "bee"

    def test_run_after(self) -> None:
        a = PythonScriptStep(script_name="a.py")
        b = PythonScriptStep(script_name="b.py")
        b.run_after(a)
        spec = Pipeline(steps=[b, a]).to_spec()
        assert [s.name for s in spec.steps] == ["a", "b"]
        assert spec.step("b").run_after == ("a",)
        assert step_upstream(spec) == {"a": (), "b": ("a",)}

    def test_run_after_pulls_in_the_earlier_step(self) -> None:
        a = PythonScriptStep(script_name="a.py")
        b = PythonScriptStep(script_name="b.py")
        b.run_after(a)
        assert [s.name for s in Pipeline(steps=[b]).to_spec().steps] == ["a", "b"]

    def test_reuse_arguments_are_recorded(self) -> None:
        env = RunConfiguration()
        env.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["numpy==2.0"])
        env.environment.docker.base_image = "python:3.11"
        step = PythonScriptStep(
            "a.py", allow_reuse=False, hash_paths=["model.bin"], version="7", runconfig=env
        )
        pipeline = Pipeline(steps=[step]).to_spec()
        spec = pipeline.steps[0]
        assert (spec.allow_reuse, spec.hash_paths, spec.version) == (False, ("model.bin",), "7")
        assert spec.environment_name == "a:inline"
        (environment,) = pipeline.environments
        assert (environment.image, environment.pip) == ("python:3.11", ("numpy==2.0",))

    def test_compute_target_object_name(self) -> None:
        class Cluster:
            name = "gpu-cluster"

        step = PythonScriptStep("a.py", compute_target=Cluster())
        with pytest.warns(MLPipelinesWarning, match="compute_target 'gpu-cluster'"):
            assert Pipeline(steps=[step]).to_spec().steps[0].compute == ComputeSpec("gpu-cluster")


class TestParameters:
    @pytest.mark.parametrize(
        ("default", "kind"),
        [(3, "integer"), (0.5, "number"), (True, "boolean"), ("x", "string"), ([1, 2], None), (None, None)],
    )
    def test_type_inferred_from_the_default(self, default: object, kind: str | None) -> None:
        param = PipelineParameter(name="p", default_value=default)
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=["--p", param])]).to_spec()
        assert spec.parameters == (ParameterSpec("p", default, kind),)
        assert spec.steps[0].arguments[1] == Argument((Ref("parameter", "p"),))

    def test_parameter_shared_by_steps_is_declared_once(self) -> None:
        lr = PipelineParameter("lr", 0.1)
        epochs = PipelineParameter("epochs", 2)
        steps = [
            PythonScriptStep("a.py", arguments=[lr, epochs]),
            PythonScriptStep("b.py", arguments=["--lr", lr]),
        ]
        spec = Pipeline(steps=steps).to_spec()
        assert [p.name for p in spec.parameters] == ["lr", "epochs"]

    def test_unused_parameter_is_not_declared(self) -> None:
        PipelineParameter("unused", 1)
        assert Pipeline(steps=[PythonScriptStep("a.py")]).to_spec().parameters == ()

    def test_invalid_parameter_name(self) -> None:
        param = PipelineParameter("learning rate", 0.1)
        line = _line()
        pipeline = Pipeline(steps=[PythonScriptStep("a.py", arguments=[param])])
        with pytest.raises(DefinitionError, match="invalid parameter name 'learning rate'") as info:
            pipeline.to_spec()
        assert info.value.location == SourceLocation(THIS_FILE, line + 1)


class TestDatasets:
    def test_named_file_dataset(self) -> None:
        store = Datastore(Workspace(), "examples", url="/data")
        line = _line()
        ds = Dataset.File.from_files([(store, "raw/measurements.csv")])
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=[ds.as_named_input("raw")])]).to_spec()
        assert spec.datasets == (
            DatasetSpec(
                "raw",
                "examples",
                ("raw/measurements.csv",),
                "direct",
                "file",
                SourceLocation(THIS_FILE, line + 1),
            ),
        )
        assert spec.datastores == (DatastoreSpec("examples", "/data"),)
        assert spec.steps[0].inputs == ("raw",)

    @pytest.mark.parametrize(
        ("consume", "mode"),
        [
            (lambda d: d.as_named_input("x"), "direct"),
            (lambda d: d.as_named_input("x").as_download(), "download"),
            (lambda d: d.as_named_input("x").as_mount(), "direct"),
            (lambda d: d.as_download(), "download"),
        ],
        ids=["named", "download", "mount", "unnamed-download"],
    )
    def test_access_modes(self, consume: object, mode: str) -> None:
        ds = Dataset.File.from_files("folder/")
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=[consume(ds)])]).to_spec()  # type: ignore[operator]
        (dataset,) = spec.datasets
        assert (dataset.mode, dataset.datastore, dataset.paths) == (mode, "workspaceblobstore", ("folder/",))

    def test_unnamed_dataset_is_named_after_the_step(self) -> None:
        ds = Dataset.File.from_files("a.csv")
        spec = Pipeline(steps=[PythonScriptStep("a.py", inputs=[ds])]).to_spec()
        assert [d.name for d in spec.datasets] == ["a_input0"]
        assert spec.steps[0].inputs == ("a_input0",)

    def test_same_dataset_in_arguments_and_inputs_is_one_input(self) -> None:
        ds = Dataset.File.from_files("a.csv").as_named_input("raw")
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=[ds.as_download()], inputs=[ds])]).to_spec()
        assert spec.steps[0].inputs == ("raw",)
        assert [(d.name, d.mode) for d in spec.datasets] == [("raw", "download")]

    @pytest.mark.parametrize("factory", ["from_delimited_files", "from_parquet_files"])
    def test_tabular_datasets(self, factory: str) -> None:
        ds = getattr(Dataset.Tabular, factory)([(Datastore.get(None, "workspaceblobstore"), "t/")])
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=[ds.as_named_input("t")])]).to_spec()
        assert spec.datasets[0].kind == "tabular"

    def test_datastore_factories(self) -> None:
        ws = Workspace(workspace_name="w")
        assert ws.name == "w"
        assert ws.get_default_datastore().name == "workspaceblobstore"
        assert Datastore.get_default(ws).name == "workspaceblobstore"
        assert Datastore.get(ws, "x").name == "x"
        assert Datastore(ws).spec() == DatastoreSpec("workspaceblobstore", None)

    def test_datastore_urls(self) -> None:
        stores = [
            Datastore(None, "rel", url="data"),
            Datastore(None, "abs", url="/abs/data"),
            Datastore(None, "s3", url="s3://bucket/data"),
            Datastore(None, "plain"),
        ]
        inputs = [Dataset.File.from_files([(s, "x")]).as_named_input(s.name) for s in stores]
        spec = Pipeline(steps=[PythonScriptStep("a.py", arguments=inputs)]).to_spec()
        assert {d.name: d.url for d in spec.datastores} == {
            "rel": str(HERE / "data"),
            "abs": "/abs/data",
            "s3": "s3://bucket/data",
            "plain": None,
        }

    def test_other_url_is_rejected_at_its_line(self) -> None:
        line = _line()
        with pytest.raises(DefinitionError, match="unsupported dataset path 'ftp://") as info:
            Dataset.File.from_files("ftp://example.invalid/data.csv")
        assert info.value.location == SourceLocation(THIS_FILE, line + 2)
        assert info.value.field == "path"

    def test_dataset_spanning_datastores(self) -> None:
        a, b = Datastore(None, "a"), Datastore(None, "b")
        line = _line()
        ds = Dataset.File.from_files([(a, "x"), (b, "y")])
        with pytest.raises(DefinitionError, match=r"dataset 'ds' spans several datastores \(a, b\)") as info:
            Pipeline(steps=[PythonScriptStep("s.py", arguments=[ds.as_named_input("ds")])]).to_spec()
        assert info.value.location == SourceLocation(THIS_FILE, line + 1)

    def test_dataset_on_unknown_datastore_name(self) -> None:
        # A Datastore object always declares itself, so no unknown-datastore error can come from the SDK.
        ds = Dataset.File.from_files([(Datastore.get(None, "anything"), "x")]).as_named_input("x")
        spec = Pipeline(steps=[PythonScriptStep("s.py", inputs=[ds])]).to_spec()
        assert [d.name for d in spec.datastores] == ["anything"]


class TestPipeline:
    def test_name_precedence(self) -> None:
        step = PythonScriptStep("a.py")
        assert Pipeline(steps=[step], name="own").to_spec(name="given").name == "own"
        assert Pipeline(steps=[step]).to_spec(name="given").name == "given"
        assert Pipeline(steps=[step]).to_spec().name == "pipeline"

    def test_provider_additions(self) -> None:
        spec = Pipeline(
            Workspace(), [PythonScriptStep("a.py")], "what it does", schedule="@hourly", tags=["a", "b"]
        ).to_spec()
        assert (spec.description, spec.schedule, spec.tags) == ("what it does", "@hourly", ("a", "b"))

    def test_non_step_in_steps(self) -> None:
        line = _line()
        with pytest.raises(DefinitionError, match="Pipeline steps must be steps, got 'x'") as info:
            Pipeline(steps=[PythonScriptStep("a.py"), ["x"]])
        assert (info.value.field, info.value.location) == ("steps", SourceLocation(THIS_FILE, line + 2))

    def test_no_steps(self) -> None:
        line = _line()
        pipeline = Pipeline(steps=[])
        with pytest.raises(DefinitionError, match="a pipeline needs at least one step") as info:
            pipeline.to_spec()
        assert info.value.location == SourceLocation(THIS_FILE, line + 1)

    def test_two_steps_with_one_default_name(self) -> None:
        first_line = _line()
        first = PythonScriptStep("train.py", source_directory="a")
        second = PythonScriptStep("train.py", source_directory="b")
        with pytest.raises(
            DefinitionError, match=rf"duplicate step name 'train' \(first defined at .*:{first_line + 1}\)"
        ) as info:
            Pipeline(steps=[first, second]).to_spec()
        error = info.value
        assert (error.step, error.field) == ("train", "name")
        assert error.location == SourceLocation(THIS_FILE, first_line + 2)

    def test_two_producers(self) -> None:
        data = PipelineData("d")
        a = PythonScriptStep("a.py", outputs=[data])
        line = _line()
        b = PythonScriptStep("b.py", outputs=[data])
        with pytest.raises(DefinitionError, match="output 'd' is produced by two steps: 'a' and 'b'") as info:
            Pipeline(steps=[a, b]).to_spec()
        assert (info.value.step, info.value.location) == ("b", SourceLocation(THIS_FILE, line + 1))

    def test_invalid_output_name(self) -> None:
        line = _line()
        step = PythonScriptStep("a.py", outputs=[PipelineData("../escape")])
        with pytest.raises(DefinitionError, match=r"invalid output name '\.\./escape'") as info:
            Pipeline(steps=[step]).to_spec()
        error = info.value
        assert (error.step, error.field, error.location) == (
            "a",
            "outputs",
            SourceLocation(THIS_FILE, line + 1),
        )

    def test_cycle(self) -> None:
        x, y = PipelineData("x"), PipelineData("y")
        a = PythonScriptStep("a.py", inputs=[y], outputs=[x])
        b = PythonScriptStep("b.py", inputs=[x], outputs=[y])
        with pytest.raises(DefinitionError, match=r"steps form a cycle: (a -> b -> a|b -> a -> b)") as info:
            Pipeline(steps=[a, b]).to_spec()
        assert info.value.location is not None
        assert info.value.location.file == THIS_FILE


class TestWarningsAndErrors:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"runconfig_pipeline_params": {"a": 1}}, "runconfig_pipeline_params has no effect yet"),
            ({"params": {"a": 1}}, "params has no effect yet"),
        ],
    )
    def test_no_effect_arguments_warn_at_the_users_line(
        self, kwargs: dict[str, object], message: str
    ) -> None:
        line = _line()
        with pytest.warns(MLPipelinesWarning, match=message) as record:
            PythonScriptStep(script_name="a.py", **kwargs)  # type: ignore[arg-type]
        assert len(record) == 1
        assert str(record[0].message).startswith("step 'a': ")
        assert (record[0].filename, record[0].lineno) == (THIS_FILE, line + 2)

    def test_continue_on_step_failure_warns_at_the_users_line(self) -> None:
        line = _line()
        with pytest.warns(MLPipelinesWarning, match="continue_on_step_failure has no effect yet") as record:
            Pipeline(steps=[PythonScriptStep("a.py")], continue_on_step_failure=True)
        assert (record[0].filename, record[0].lineno) == (THIS_FILE, line + 2)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"compute_target": "local"},
            {"compute_target": None},
            {"allow_reuse": True},
            {"allow_reuse": False},
            {"hash_paths": ["x.ipynb"]},
            {"version": "2"},
        ],
    )
    def test_arguments_that_take_effect_do_not_warn(self, kwargs: dict[str, object]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            PythonScriptStep(script_name="a.py", **kwargs)  # type: ignore[arg-type]
            Pipeline(steps=[PythonScriptStep("b.py")], continue_on_step_failure=False)

    def test_unsupported_argument_names_the_line(self) -> None:
        line = _line()
        step = PythonScriptStep(script_name="a.py", arguments=[object()])
        with pytest.raises(DefinitionError, match="unsupported argument <object object") as info:
            Pipeline(steps=[step]).to_spec()
        error = info.value
        assert (error.step, error.field) == ("a", "arguments")
        assert error.location == SourceLocation(THIS_FILE, line + 1)
        assert str(error).startswith(f"{THIS_FILE}:{line + 1}, step 'a', field 'arguments'")

    def test_unsupported_input_names_the_line(self) -> None:
        line = _line()
        step = PythonScriptStep(script_name="a.py", inputs=["data.csv"])
        with pytest.raises(DefinitionError, match=r"unsupported input 'data\.csv'") as info:
            Pipeline(steps=[step]).to_spec()
        error = info.value
        assert (error.step, error.field, error.location) == (
            "a",
            "inputs",
            SourceLocation(THIS_FILE, line + 1),
        )
        assert error.hint is not None
        assert "as_named_input" in error.hint


def _module(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


_IMPORTS = "from airflow_mlpipelines.pipeline import Pipeline, PipelineData, PythonScriptStep\n"


class TestPythonLoader:
    def test_example_module(self) -> None:
        path = EXAMPLES / "seed004_sdk.py"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (spec,) = load_python_pipelines(str(path))
        assert spec.name == "seed004_sdk"
        assert spec.description == "Seed 004's pipeline in Python with Azure ML SDK v1 names."
        assert [s.name for s in spec.steps] == ["prepare", "train", "compare"]
        assert [s.location for s in spec.steps] == [SourceLocation(str(path), n) for n in (28, 42, 50)]
        assert spec.source == SourceLocation(str(path), 59)
        for step in spec.steps:
            assert (Path(step.source_directory) / step.script_name).is_file()
        assert spec.step("prepare").source_directory == str(EXAMPLES / "src" / "dataprep")
        assert spec.step("train").inputs == ("output_data1",)
        assert spec.step("compare").inputs == ("training_results",)
        assert {d.name: d.url for d in spec.datastores} == {
            "examples": str(EXAMPLES / "data"),
            "workspaceblobstore": None,
        }
        (dataset,) = spec.datasets
        assert (dataset.name, dataset.datastore, dataset.paths, dataset.mode) == (
            "input1",
            "examples",
            ("raw/measurements.csv",),
            "download",
        )
        assert (EXAMPLES / "data" / dataset.paths[0]).is_file()

    def test_example_matches_the_yaml_example_shape(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MLPipelinesWarning)
            (sdk,) = load_definition(str(EXAMPLES / "seed004_sdk.py"))
        (yaml_spec,) = load_definition(str(EXAMPLES / "seed004_yaml.yaml"))
        assert {s.source_directory for s in sdk.steps} <= {s.source_directory for s in yaml_spec.steps}

    def test_one_pipeline_is_named_after_the_file(self, tmp_path: Path) -> None:
        path = _module(tmp_path, "my_defs.py", _IMPORTS + "p = Pipeline(steps=[PythonScriptStep('a.py')])\n")
        assert [s.name for s in load_python_pipelines(str(path))] == ["my_defs"]

    def test_two_pipelines_named_after_variables(self, tmp_path: Path) -> None:
        path = _module(
            tmp_path,
            "two.py",
            _IMPORTS
            + "first = Pipeline(steps=[PythonScriptStep(script_name='a.py')])\n"
            + "second = Pipeline(steps=[PythonScriptStep(script_name='b.py')])\n"
            + "named = Pipeline(steps=[PythonScriptStep(script_name='c.py')], name='explicit')\n",
        )
        specs = load_python_pipelines(str(path))
        assert [(s.name, s.steps[0].name) for s in specs] == [
            ("two_first", "a"),
            ("two_second", "b"),
            ("explicit", "c"),
        ]

    def test_module_without_pipeline(self, tmp_path: Path) -> None:
        path = _module(tmp_path, "empty.py", _IMPORTS + "step = PythonScriptStep('a.py')\n")
        with pytest.raises(DefinitionError, match="the module defines no Pipeline at top level") as info:
            load_python_pipelines(str(path))
        assert info.value.location == SourceLocation(str(path))
        assert info.value.hint is not None
        assert "pipeline1 = Pipeline(" in info.value.hint

    def test_module_that_raises_names_its_line(self, tmp_path: Path) -> None:
        path = _module(tmp_path, "boom.py", _IMPORTS + "x = 1\n\nraise ValueError('bad config')\n")
        with pytest.raises(
            DefinitionError, match="the definition module raised ValueError: bad config"
        ) as info:
            load_python_pipelines(str(path))
        assert info.value.location == SourceLocation(str(path), 4)
        assert str(info.value).startswith(f"{path}:4: ")
        assert isinstance(info.value.__cause__, ValueError)

    def test_error_inside_a_function_names_the_innermost_line_in_the_module(self, tmp_path: Path) -> None:
        path = _module(
            tmp_path,
            "nested.py",
            """\
            import json
            import airflow_mlpipelines.pipeline

            def config():
                return json.loads("{")


            settings = config()
            """,
        )
        with pytest.raises(DefinitionError, match="raised JSONDecodeError") as info:
            load_python_pipelines(str(path))
        assert info.value.location == SourceLocation(str(path), 5)

    def test_syntax_error_names_its_line(self, tmp_path: Path) -> None:
        path = _module(tmp_path, "syntax.py", "x = 1\ny = (\n")
        with pytest.raises(DefinitionError, match="raised SyntaxError") as info:
            load_python_pipelines(str(path))
        assert info.value.location == SourceLocation(str(path), 2)

    def test_definition_error_in_the_module_passes_through(self, tmp_path: Path) -> None:
        path = _module(
            tmp_path,
            "web.py",
            "from airflow_mlpipelines.pipeline import Dataset\n\nds = Dataset.File.from_files('ftp://x.invalid/a')\n",
        )
        with pytest.raises(DefinitionError, match="unsupported dataset path") as info:
            load_python_pipelines(str(path))
        assert info.value.location == SourceLocation(str(path), 3)

    def test_graph_error_names_the_step_line_in_the_module(self, tmp_path: Path) -> None:
        path = _module(
            tmp_path,
            "dangling.py",
            _IMPORTS
            + "data = PipelineData('d')\n"
            + "consumer = PythonScriptStep('c.py', inputs=[data])\n"
            + "p = Pipeline(steps=[consumer])\n",
        )
        with pytest.raises(DefinitionError, match="input 'd' is not produced") as info:
            load_python_pipelines(str(path))
        assert (info.value.step, info.value.location) == ("c", SourceLocation(str(path), 3))

    def test_source_directory_relative_to_the_module(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        elsewhere = tmp_path / "cwd"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        (tmp_path / "defs").mkdir()
        path = _module(
            tmp_path,
            "defs/mod.py",
            _IMPORTS + "p = Pipeline(steps=[PythonScriptStep('a.py', source_directory='./src')])\n",
        )
        (spec,) = load_python_pipelines(str(path))
        assert spec.steps[0].source_directory == str(tmp_path / "defs" / "src")

    def test_warnings_point_into_the_module(self, tmp_path: Path) -> None:
        path = _module(
            tmp_path,
            "warn.py",
            _IMPORTS
            + "\nstep = PythonScriptStep('a.py', compute_target='gpu')\np = Pipeline(steps=[step])\n",
        )
        with pytest.warns(MLPipelinesWarning, match="compute_target 'gpu'") as record:
            load_python_pipelines(str(path))
        assert [(w.filename, w.lineno) for w in record] == [(str(path), 3)]

    def test_module_is_not_left_in_sys_modules_and_loads_again(self, tmp_path: Path) -> None:
        path = _module(tmp_path, "again.py", _IMPORTS + "p = Pipeline(steps=[PythonScriptStep('a.py')])\n")
        before = set(sys.modules)
        first = load_python_pipelines(str(path))
        assert {m for m in set(sys.modules) - before if "again" in m} == set()
        assert load_python_pipelines(str(path)) == first

    def test_relative_path_is_made_absolute(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        _module(tmp_path, "rel.py", _IMPORTS + "p = Pipeline(steps=[PythonScriptStep('a.py')])\n")
        monkeypatch.chdir(tmp_path)
        (spec,) = load_python_pipelines("rel.py")
        assert spec.source == SourceLocation(str(tmp_path / "rel.py"), 2)


def test_a_reference_to_a_compute_target_answers_the_status_calls_of_ported_notebooks() -> None:
    """The SDK v1 idiom ``try: ComputeTarget(ws, name) except ComputeTargetException: create`` then
    ``get_status().serialize()`` / ``wait_for_completion()`` works on a reference too."""
    from airflow_mlpipelines.pipeline import ComputeTarget

    target = ComputeTarget(workspace=None, name="cpu-cluster")
    assert target.get_status().serialize() == {"provisioningState": "Succeeded", "runsOn": "local"}
    target.wait_for_completion(show_output=False)


def test_environment_from_a_conda_file_and_azureml_packages_left_out(tmp_path: Path) -> None:
    from airflow_mlpipelines.exceptions import MLPipelinesWarning
    from airflow_mlpipelines.pipeline import Environment

    conda = tmp_path / "env.yml"
    conda.write_text(
        "name: train\ndependencies:\n  - python=3.11\n  - pip\n  - scikit-learn=1.5\n"
        "  - pip:\n    - azureml-defaults\n    - azureml-dataset-runtime[fuse,pandas]>=1.50\n"
        "    - lightgbm==4.3\n"
    )
    env = Environment.from_conda_specification("train", str(conda))
    with pytest.warns(
        MLPipelinesWarning, match=r"azureml-defaults, azureml-dataset-runtime\[fuse,pandas\]>=1.50"
    ):
        spec = env.spec("train")
    assert spec.pip == ("lightgbm==4.3",)
    assert spec.conda == ("scikit-learn=1.5",)
