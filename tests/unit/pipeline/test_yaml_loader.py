"""YAML definitions: every example loads; every bad fixture fails naming file:line, step, field and a hint."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import load_definition, load_yaml_pipeline
from airflow_mlpipelines.pipeline.compute import step_environment
from airflow_mlpipelines.pipeline.model import (
    Argument,
    ComputeSpec,
    DatasetSpec,
    DatastoreSpec,
    OutputSpec,
    ParameterSpec,
    PipelineSpec,
    Ref,
)
from airflow_mlpipelines.pipeline.validate import step_upstream

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "dags_examples" / "definitions"
FIXTURES = REPO / "tests" / "fixtures" / "definitions"
BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
SCRIPT_EXAMPLES = [p for p in EXAMPLE_FILES if not p.stem.startswith(("eps_", "data_transfer"))]
"""Examples made of PythonScriptSteps only (Execute Python Script examples: test_eps_definitions.py;
data transfers: test_transfer_definitions.py)."""
BAD_FILES = sorted(BAD.glob("*.yaml"))
GOOD_FILES = sorted([*GOOD.glob("*.yaml"), *GOOD.glob("*.yml")])


def _write(tmp_path: Path, text: str, name: str = "def.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _load(tmp_path: Path, text: str, name: str = "def.yaml") -> PipelineSpec:
    return load_yaml_pipeline(str(_write(tmp_path, text, name)))


def _input(name: str) -> Argument:
    return Argument((Ref("input", name),))


def _output(name: str) -> Argument:
    return Argument((Ref("output", name),))


def _param(name: str) -> Argument:
    return Argument((Ref("parameter", name),))


def _text(*words: str) -> tuple[Argument, ...]:
    return tuple(Argument((w,)) for w in words)


class TestValidExamples:
    """The shipped examples: they load, and every path they name exists next to them."""

    def test_examples_are_found(self) -> None:
        assert {p.stem for p in EXAMPLE_FILES} == {
            "fan_out_in",
            "parameterised",
            "plots_report",
            "seed004_yaml",
            "eps_hello",
            "eps_scatter",
            "data_transfer",
        }

    @pytest.mark.parametrize("path", SCRIPT_EXAMPLES, ids=lambda p: p.stem)
    def test_example_loads_without_warnings(self, path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            spec = load_yaml_pipeline(str(path))
        assert spec.name == path.stem
        assert spec.source is not None
        assert spec.source.file == str(path)
        assert spec.steps[0].name == "prepare"
        assert spec.tags[0] == "example"
        assert spec.description

    @pytest.mark.parametrize("path", SCRIPT_EXAMPLES, ids=lambda p: p.stem)
    def test_example_scripts_and_data_exist(self, path: Path) -> None:
        spec = load_yaml_pipeline(str(path))
        for step in spec.steps:
            assert os.path.isfile(os.path.join(step.source_directory, step.script_name)), step.name
            assert step.location is not None
            assert step.location.file == str(path)
            assert path.read_text().splitlines()[step.location.line - 1].strip() == f"- name: {step.name}"
        stores = {d.name: d.url for d in spec.datastores}
        for ds in spec.datasets:
            assert os.path.exists(os.path.join(stores[ds.datastore], *ds.paths)), ds.name

    @pytest.mark.parametrize("path", SCRIPT_EXAMPLES, ids=lambda p: p.stem)
    def test_example_refs_are_declared(self, path: Path) -> None:
        spec = load_yaml_pipeline(str(path))
        params = {p.name for p in spec.parameters}
        for step in spec.steps:
            refs = [r for a in step.arguments for r in a.refs]
            assert {r.name for r in refs if r.kind == "input"} == set(step.inputs)
            assert {r.name for r in refs if r.kind == "output"} == {o.name for o in step.outputs}
            assert {r.name for r in refs if r.kind == "parameter"} <= params

    def test_seed004(self) -> None:
        spec = load_yaml_pipeline(str(EXAMPLES / "seed004_yaml.yaml"))
        assert [s.name for s in spec.steps] == ["prepare", "train", "baseline", "compare"]
        assert spec.schedule is None
        assert spec.tags == ("example", "seed004")
        assert spec.parameters == ()
        assert spec.datastores == (DatastoreSpec("examples", str(EXAMPLES / "data")),)
        assert spec.datasets == (
            DatasetSpec(
                "raw_data",
                "examples",
                ("raw/measurements.csv",),
                location=spec.datasets[0].location,
            ),
        )
        assert spec.datasets[0].location is not None
        assert spec.datasets[0].location.line == 14  # line 1 names the editor schema
        prepare, train, baseline, compare = spec.steps
        assert prepare.inputs == ("raw_data",)
        assert prepare.arguments == (
            *_text("--input"),
            _input("raw_data"),
            *_text("--output"),
            _output("prepped_data"),
        )
        assert prepare.outputs == (OutputSpec("prepped_data"),)
        assert prepare.source_directory == str(EXAMPLES / "src" / "dataprep")
        assert (prepare.script_name, prepare.compute, prepare.allow_reuse) == (
            "prepare.py",
            ComputeSpec(),
            True,
        )
        assert train.inputs == ("prepped_data",)
        assert train.outputs == (OutputSpec("training_results"),)
        assert train.source_directory == str(EXAMPLES / "src" / "train")
        assert train.arguments[1] == _input("prepped_data")
        assert baseline.arguments[-2:] == _text("--shrink", "0.9")
        assert baseline.source_directory == train.source_directory
        assert compare.inputs == ("training_results", "baseline_results")
        assert compare.arguments[:3] == (
            *_text("--models"),
            _input("training_results"),
            _input("baseline_results"),
        )
        assert step_upstream(spec) == {
            "prepare": (),
            "train": ("prepare",),
            "baseline": ("prepare",),
            "compare": ("train", "baseline"),
        }

    def test_fan_out_in(self) -> None:
        spec = load_yaml_pipeline(str(EXAMPLES / "fan_out_in.yaml"))
        names = [s.name for s in spec.steps]
        assert names == ["prepare", "train_a", "train_b", "train_c", "compare"]
        upstream = step_upstream(spec)
        assert upstream["compare"] == ("train_a", "train_b", "train_c")
        assert {upstream[f"train_{x}"] for x in "abc"} == {("prepare",)}
        # defaults.source_directory applies to every step; the script path is relative to it.
        assert {s.source_directory for s in spec.steps} == {str(EXAMPLES / "src")}
        assert spec.step("train_b").script_name == "train/train.py"
        assert spec.step("train_c").arguments[-2:] == _text("--shrink", "0.95")
        compare = spec.step("compare")
        assert compare.inputs == ("model_a", "model_b", "model_c")
        assert compare.arguments == (
            *_text("--models"),
            _input("model_a"),
            _input("model_b"),
            _input("model_c"),
            *_text("--output"),
            _output("comparison"),
        )

    def test_parameterised(self) -> None:
        spec = load_yaml_pipeline(str(EXAMPLES / "parameterised.yaml"))
        assert spec.parameters == (
            ParameterSpec(
                "shrink",
                0.1,
                "number",
                "Pull class centroids towards the global mean (0 = none, 1 = all the way).",
                minimum=0,
                maximum=1,
            ),
            ParameterSpec("run_label", "nightly", "string", enum=("nightly", "adhoc", "experiment")),
            ParameterSpec("epochs", 3, "integer"),
        )
        train = spec.step("train")
        assert train.arguments[-1] == Argument(("--shrink=", Ref("parameter", "shrink")))
        assert str(train.arguments[-1]) == "--shrink=${{parameters.shrink}}"
        report = spec.step("report")
        assert report.arguments == (
            *_text("--model"),
            _input("model"),
            *_text("--label"),
            _param("run_label"),
            *_text("--epochs"),
            _param("epochs"),
            *_text("--output"),
            _output("report"),
        )
        assert report.source_directory == str(EXAMPLES / "src" / "params")


class TestValidSyntax:
    """Each way of writing a definition, one at a time."""

    def test_minimal_definition_and_defaults(self, tmp_path: Path) -> None:
        spec = _load(tmp_path, "steps: [{name: s, script: s.py}]\n", "my_pipe.yaml")
        assert spec.name == "my_pipe"
        (step,) = spec.steps
        assert step.source_directory == str(tmp_path)
        assert (step.arguments, step.inputs, step.outputs, step.run_after) == ((), (), (), ())
        assert (step.compute, step.allow_reuse, step.version, step.hash_paths) == (
            ComputeSpec("local"),
            True,
            None,
            (),
        )
        assert step.kind == "python_script"
        assert step.location.line == 1

    def test_inline_refs(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "parameters: {lr: 0.5}\n"
            "datasets: {raw: {path: a.csv}}\n"
            "steps:\n"
            "  - name: s\n"
            "    script: s.py\n"
            "    arguments:\n"
            "      ['--in=${{inputs.raw}}:${{parameters.lr}}', '${{ outputs.o }}', 'x${{inputs.raw}}']\n"
            "    outputs: [o]\n",
        )
        step = spec.steps[0]
        assert step.inputs == ("raw",)
        assert step.arguments[0].parts == ("--in=", Ref("input", "raw"), ":", Ref("parameter", "lr"))
        assert step.arguments[1].parts == (Ref("output", "o"),)
        assert step.arguments[2].parts == ("x", Ref("input", "raw"))
        assert spec.name == "def"

    def test_mapping_refs(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "parameters: {n: 3}\n"
            "steps:\n"
            "  - name: a\n"
            "    script: a.py\n"
            "    arguments: [{output: d}]\n"
            "    outputs: [d]\n"
            "  - name: b\n"
            "    script: b.py\n"
            "    arguments: [--data, {input: d}, --n, {parameter: n}]\n",
        )
        b = spec.step("b")
        assert b.arguments == (*_text("--data"), _input("d"), *_text("--n"), _param("n"))
        assert b.inputs == ("d",)
        assert spec.step("a").arguments == (_output("d"),)

    def test_inputs_inferred_from_arguments_follow_explicit_inputs(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "datasets: {x: {path: x}, y: {path: y}, z: {path: z}}\n"
            "steps:\n"
            "  - name: s\n"
            "    script: s.py\n"
            "    inputs: [z, y]\n"
            "    arguments: [{input: x}, '${{inputs.y}}', {input: x}]\n",
        )
        assert spec.steps[0].inputs == ("z", "y", "x")

    def test_scalar_arguments_become_text(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path, "steps: [{name: s, script: s.py, arguments: [3, 0.5, true, false, '007', x]}]\n"
        )
        assert spec.steps[0].arguments == _text("3", "0.5", "true", "false", "007", "x")

    def test_text_that_only_looks_like_a_ref_stays_text(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path, "steps: [{name: s, script: s.py, arguments: ['{{ds}}', '$HOME', '{input}']}]\n"
        )
        assert spec.steps[0].arguments == _text("{{ds}}", "$HOME", "{input}")

    def test_relative_datastore_url_resolves_against_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)  # the working directory must not matter
        spec = _load(
            tmp_path,
            "datastores: {up: {url: ../data}, here: {url: data/sub}, dot: {url: .}}\n"
            "steps: [{name: s, script: s.py}]\n",
            "defs/nested/def.yaml",
        )
        assert spec.datastores == (
            DatastoreSpec("up", str(tmp_path / "defs" / "data")),
            DatastoreSpec("here", str(tmp_path / "defs" / "nested" / "data" / "sub")),
            DatastoreSpec("dot", str(tmp_path / "defs" / "nested")),
        )

    def test_home_relative_datastore_url(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        spec = _load(tmp_path, "datastores: {h: {url: ~/store}}\nsteps: [{name: s, script: s.py}]\n")
        assert spec.datastores[0].url == str(tmp_path / "home" / "store")

    def test_absolute_and_remote_datastore_urls_kept(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "datastores: {a: {url: 's3://bucket/x'}, b: {url: /abs/path}, c: {url: 'file:///x/y'}}\n"
            "steps: [{name: s, script: s.py}]\n",
        )
        assert [d.url for d in spec.datastores] == ["s3://bucket/x", "/abs/path", "file:///x/y"]

    def test_source_directory_default_and_override(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "defaults: {source_directory: code}\n"
            "steps:\n"
            "  - {name: a, script: a.py}\n"
            "  - {name: b, script: b.py, source_directory: ../other}\n"
            "  - {name: c, script: c.py, source_directory: /abs/src}\n",
            "sub/def.yaml",
        )
        dirs = {s.name: s.source_directory for s in spec.steps}
        assert dirs == {
            "a": str(tmp_path / "sub" / "code"),
            "b": str(tmp_path / "other"),
            "c": "/abs/src",
        }

    def test_source_directory_is_not_checked_on_disk(self, tmp_path: Path) -> None:
        spec = _load(tmp_path, "steps: [{name: s, script: s.py, source_directory: does/not/exist}]\n")
        assert spec.steps[0].source_directory == str(tmp_path / "does" / "not" / "exist")

    def test_parameter_shorthand_infers_types(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "parameters: {epochs: 3, rate: 0.1, flag: true, label: x, empty: null}\n"
            "steps: [{name: s, script_name: s.py}]\n",
        )
        assert spec.parameters == (
            ParameterSpec("epochs", 3, "integer"),
            ParameterSpec("rate", 0.1, "number"),
            ParameterSpec("flag", True, "boolean"),
            ParameterSpec("label", "x", "string"),
            ParameterSpec("empty", None, None),
        )

    def test_long_form_parameter_type_wins_over_inference(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "parameters:\n"
            "  n: {type: number, default: 1}\n"
            "  m: {default: 2}\n"
            "  o: {type: object, default: {a: 1}}\n"
            "steps: [{name: s, script: s.py}]\n",
        )
        assert [(p.name, p.type, p.default) for p in spec.parameters] == [
            ("n", "number", 1),
            ("m", "integer", 2),
            ("o", "object", {"a": 1}),
        ]

    def test_sdk_style_key_aliases(self, tmp_path: Path) -> None:
        spec = _load(tmp_path, "steps: [{name: s, script_name: run.py, compute_target: local}]\n")
        step = spec.steps[0]
        assert (step.script_name, step.compute) == ("run.py", ComputeSpec("local"))

    def test_long_form_outputs_and_datastores(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "datastores: {scratch: {url: s}}\n"
            "steps:\n"
            "  - name: s\n"
            "    script: s.py\n"
            "    outputs: [a, {name: b}, {name: c, datastore: scratch}]\n",
        )
        assert spec.steps[0].outputs == (
            OutputSpec("a"),
            OutputSpec("b"),
            OutputSpec("c", "scratch"),
        )

    def test_reuse_keys_are_kept(self, tmp_path: Path) -> None:
        with pytest.warns(MLPipelinesWarning, match="environment only counts for reuse"):
            spec = _load(
                tmp_path,
                "steps:\n"
                "  - name: s\n"
                "    script: s.py\n"
                "    allow_reuse: false\n"
                "    hash_paths: [w.bin, conf]\n"
                "    version: '3'\n"
                "    environment: {pip: [numpy], image: 'py:3'}\n",
            )
        step = spec.steps[0]
        assert (step.allow_reuse, step.hash_paths, step.version) == (False, ("w.bin", "conf"), "3")
        assert step.environment_name == "s:inline"
        assert step_environment(spec, step) == {"image": "py:3", "pip": ["numpy"], "conda": [], "env": {}}

    def test_run_after(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "steps:\n  - {name: b, script: b.py, run_after: [a]}\n  - {name: a, script: a.py}\n",
        )
        assert [s.name for s in spec.steps] == ["a", "b"]
        assert spec.step("b").run_after == ("a",)

    def test_step_lines(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "# comment\nname: lines\n\nsteps:\n"
            "  - name: a\n    script: a.py\n\n"
            "  - name: b\n    script: b.py\n",
        )
        assert [s.location.line for s in spec.steps] == [5, 8]
        assert spec.source.line == 2

    def test_load_definition_dispatches_on_suffix(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps: [{name: s, script: s.py}]\n", "pipe.yml")
        (spec,) = load_definition(str(path))
        assert spec.name == "pipe"

    def test_relative_path_argument_is_made_absolute(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _write(tmp_path, "steps: [{name: s, script: s.py}]\n")
        monkeypatch.chdir(tmp_path)
        spec = load_yaml_pipeline("def.yaml")
        assert spec.source is not None
        assert spec.source.file == str(tmp_path / "def.yaml")
        assert spec.steps[0].source_directory == str(tmp_path)


def _good_expectation(path: Path) -> list[str]:
    header = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# expect: order=([\w,.-]+)", header)
    assert match, f"{path.name}: first line must be '# expect: order=a,b,...'"
    return match.group(1).split(",")


class TestValidFixtures:
    @pytest.mark.parametrize("path", GOOD_FILES, ids=lambda p: p.name)
    def test_good_fixture_loads_in_the_stated_order(self, path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            spec = load_definition(str(path))[0]
        assert [s.name for s in spec.steps] == _good_expectation(path)

    def test_anchors_merge_keys_and_long_form(self) -> None:
        spec = load_yaml_pipeline(str(GOOD / "anchors_and_long_form.yaml"))
        assert (spec.name, spec.schedule, spec.tags) == (
            "anchors_and_long_form",
            "@daily",
            ("fixture", "good"),
        )
        report, train = spec.step("report"), spec.step("train")
        # The merge key shares source_directory between report and train.
        assert report.source_directory == train.source_directory == str(GOOD / "code" / "shared")
        assert spec.step("prepare").source_directory == str(GOOD / "code")
        assert spec.step("fetch").source_directory == "/opt/fetch"
        assert report.inputs == ("model",)
        assert report.arguments[2] == Argument(("--verbose=", Ref("parameter", "verbose")))
        assert report.run_after == ("fetch",)
        assert train.outputs == (OutputSpec("model", "scratch"),)
        assert train.arguments[-4:] == _text("--epochs", "3", "--fast", "true")
        assert (train.allow_reuse, train.hash_paths, train.version) == (False, ("weights.bin",), "2")
        prepare = spec.step("prepare")
        assert prepare.arguments[0].parts == ("--in=", Ref("input", "raw"), "/part-*.csv")
        assert spec.datastores == (
            DatastoreSpec("scratch", str(FIXTURES / "scratch")),
            DatastoreSpec("remote", "s3://bucket/prefix"),
        )
        (raw,) = spec.datasets
        assert (raw.name, raw.datastore, raw.paths, raw.mode, raw.kind) == (
            "raw",
            "remote",
            ("raw/",),
            "download",
            "tabular",
        )
        params = {p.name: p for p in spec.parameters}
        assert params["lr"] == ParameterSpec("lr", 0.5, "number", "learning rate", minimum=0, maximum=1)
        assert params["mode"] == ParameterSpec("mode", "fast", "string", enum=("fast", "slow"))
        assert (params["ids"].type, params["ids"].default) == ("array", [1, 2])
        assert (params["verbose"].type, params["nothing"].type) == ("boolean", None)


class TestWarnings:
    @pytest.mark.parametrize(
        ("key", "fragment"),
        [("environment: {image: 'x:1'}", "step 's': environment only counts for reuse on the local target")],
    )
    def test_keys_without_effect_warn_at_their_step(self, tmp_path: Path, key: str, fragment: str) -> None:
        path = _write(tmp_path, f"name: w\nsteps:\n  - name: s\n    script: s.py\n    {key}\n")
        with pytest.warns(MLPipelinesWarning, match=fragment) as record:
            load_yaml_pipeline(str(path))
        assert len(record) == 1
        assert (record[0].filename, record[0].lineno) == (str(path), 3)

    def test_default_compute_applies_to_every_step(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path,
            "compute_targets: {gpu: {kind: docker, image: 'x:1'}}\n"
            "defaults: {compute: gpu}\nsteps:\n"
            "  - {name: a, script: a.py}\n"
            "  - {name: b, script: b.py, compute: local}\n",
        )
        spec = load_yaml_pipeline(str(path))
        assert [s.compute.name for s in spec.steps] == ["gpu", "local"]

    @pytest.mark.parametrize(
        "key",
        ["compute: local", "allow_reuse: false", "hash_paths: [x.ipynb]", "version: '2'"],
    )
    def test_keys_that_take_effect_do_not_warn(self, tmp_path: Path, key: str) -> None:
        path = _write(tmp_path, f"steps:\n  - name: s\n    script: s.py\n    {key}\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_yaml_pipeline(str(path))


_EXPECT = re.compile(r"(\w+)=(.*?)(?= \w+=|$)")
_EXPECT_KEYS = {"line", "step", "field", "hint", "message"}


def _expectation(path: Path) -> dict[str, str | None]:
    """Parse ``# expect: line=N step=S field=F hint=H message=M`` ('-' means: not set)."""
    header = path.read_text().splitlines()[0] if path.read_text() else ""
    assert header.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    fields = dict(_EXPECT.findall(header.removeprefix("# expect: ")))
    assert set(fields) == _EXPECT_KEYS, f"{path.name}: header needs exactly {sorted(_EXPECT_KEYS)}"
    return {k: None if v == "-" else v.replace("{file}", str(path)) for k, v in fields.items()}


class TestInvalidDefinitions:
    def test_every_bad_fixture_is_collected(self) -> None:
        assert len(BAD_FILES) >= 30
        assert BAD.joinpath("misspelt_step_key.yaml") in BAD_FILES

    def test_header_parser(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path, "# expect: line=7 step=train field=argumentz hint=did you mean 'arguments'? message=-\n"
        )
        assert _expectation(path) == {
            "line": "7",
            "step": "train",
            "field": "argumentz",
            "hint": "did you mean 'arguments'?",
            "message": None,
        }

    @pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
    def test_bad_fixture_reports_where_and_why(self, path: Path) -> None:
        expected = _expectation(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MLPipelinesWarning)
            with pytest.raises(DefinitionError) as info:
                load_yaml_pipeline(str(path))
        error = info.value
        assert error.location is not None
        assert (error.location.file, str(error.location.line)) == (str(path), expected["line"])
        assert error.step == expected["step"]
        assert error.field == expected["field"]
        assert error.hint == expected["hint"]
        assert expected["message"] is not None
        assert expected["message"] in error.reason
        text = str(error)
        assert text.startswith(f"{path}:{expected['line']}")
        if expected["step"] is not None:
            assert f"step '{expected['step']}'" in text
        if expected["hint"] is not None:
            assert text.endswith(f"\n  hint: {expected['hint']}")

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.yaml"
        with pytest.raises(DefinitionError, match="cannot read definition") as info:
            load_yaml_pipeline(str(path))
        assert info.value.location is not None
        assert (info.value.location.file, info.value.location.line) == (str(path), None)

    def test_every_problem_is_reported(self, tmp_path: Path) -> None:
        """Issue 16, item 2: all problems of a file, each with its line, step and field."""
        path = _write(
            tmp_path,
            "tags: a\nsteps:\n  - {name: s, script: s.py, arguments: x}\n  - {name: t, scrpt: t.py}\n",
        )
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        assert (info.value.field, info.value.location.line) == ("tags", 1)
        lines = str(info.value).splitlines()
        assert lines[0].startswith(f"{path}:1, field 'tags': Input should be a valid list")
        assert f"{path}:3, step 's', field 'arguments': Input should be a valid list (got 'x')" in lines
        assert f"{path}:4, step 't', field 'scrpt': unknown key 'scrpt'" in lines
        assert "  hint: did you mean 'script'?" in lines
        assert "more problem" not in str(info.value)
        assert [e.field for e in info.value.others][:2] == ["arguments", "scrpt"]

    def test_every_cross_field_problem_is_reported(self, tmp_path: Path) -> None:
        """Issue 16, item 2: problems between fields (references, datastores, compute) are all listed too,
        in line order, each naming its step and field."""
        path = _write(
            tmp_path,
            "parameters: {rate: 1}\n"
            "steps:\n"
            "  - {name: a, script: a.py, inputs: [nowhere], outputs: [x]}\n"
            "  - {name: b, script: b.py, arguments: [{parameter: rat}], inputs: [x]}\n"
            "  - {name: c, script: c.py, outputs: [{name: y, datastore: nostore}]}\n"
            "  - {name: d, script: d.py, run_after: [zz], compute: gpu}\n"
            "  - name: e\n"
            "    type: execute_python_script\n"
            "    script: 'def azureml_main(df): return df,'\n"
            "    dataframe1: missing\n",
        )
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        problems = [info.value, *info.value.others]
        where = [(e.location.line if e.location else None, e.step, e.field) for e in problems]
        assert where == [
            (3, "a", "inputs"),
            (4, "b", "arguments[0]"),
            (5, "c", "outputs"),
            (6, "d", "compute"),
            (6, "d", "run_after"),
            (7, "e", "dataframe1"),
        ]
        text = str(info.value)
        assert "input 'nowhere' is not produced by any step" in text
        assert "unknown parameter 'rat'" in text
        assert "did you mean 'rate'?" in text
        assert "unknown datastore 'nostore'" in text
        assert "run_after names unknown step 'zz'" in text
        assert "dataframe1 is connected to 'missing'" in text
        assert text.count("\n") >= len(problems) - 1
        assert "more problem" not in text

    def test_no_internal_class_names(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "datasets:\n  raw: [1, 2]\nsteps: [{name: s, script: s.py}]\n")
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        assert "Model" not in str(info.value)
        assert "Input should be a valid dictionary (got [1, 2])" in str(info.value)

    def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yaml"
        path.write_bytes("name: p\nsteps:\n  - {name: s, script: caf\u00e9.py}\n".encode("latin-1"))
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        assert info.value.location is not None
        assert (info.value.location.file, info.value.location.line) == (str(path), 3)
        assert "not valid UTF-8: byte 0xe9 at line 3, column 26" in str(info.value)
        assert "UnicodeDecodeError" not in str(info.value)

    def test_duplicate_output_names_in_a_step(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps:\n  - {name: s, script: s.py, outputs: [o, o]}\n")
        with pytest.raises(DefinitionError, match="output 'o' is declared twice in this step") as info:
            load_yaml_pipeline(str(path))
        assert (info.value.step, info.value.field) == ("s", "outputs")

    def test_union_alternatives_count_as_one_problem(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps: [{name: s, script: s.py, arguments: [[1, 2]]}]\n")
        with pytest.raises(DefinitionError, match=r"valid string \(got \[1, 2\]\)$") as info:
            load_yaml_pipeline(str(path))
        assert (info.value.step, info.value.field) == ("s", "arguments[0]")

    def test_missing_output_name_in_long_form(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps:\n  - name: s\n    script: s.py\n    outputs:\n      - datastore: x\n")
        with pytest.raises(DefinitionError, match="missing required key 'name'") as info:
            load_yaml_pipeline(str(path))
        assert (info.value.step, info.value.field, info.value.location.line) == ("s", "outputs[0].name", 5)

    def test_step_without_name(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps:\n  - name: a\n    script: a.py\n  - script: b.py\n")
        with pytest.raises(DefinitionError, match="missing required key 'name'") as info:
            load_yaml_pipeline(str(path))
        # Named by its position (issue 16: never None, never a dict repr).
        assert (info.value.step, info.value.field, info.value.location.line) == ("#2", "name", 4)

    def test_a_reference_without_a_name_is_reported_as_such(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path, "steps:\n  - {name: s, script: s.py, arguments: [{output: true}], outputs: [o]}\n"
        )
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        assert "{output: true} is not a reference: 'output' must be followed by the name of an output" in str(
            info.value
        )
        assert (info.value.step, info.value.field) == ("s", "arguments[0]")

    def test_billion_laughs_is_cheap(self, tmp_path: Path) -> None:
        # Aliases are shared, not copied: this would be 10**9 strings if expanded.
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
        path = _write(tmp_path, "\n".join(lines) + "\nsteps: [{name: s, script: s.py}]\n")
        with pytest.raises(DefinitionError, match="unknown key 'a0'"):
            load_yaml_pipeline(str(path))


class TestSourcesExist:
    """Issue 16, item 2: a missing script or folder is an error when the definition is loaded into Airflow
    (the stub's import) or validated, not a healthy-looking DAG that fails once triggered."""

    def test_missing_script_and_folder_are_listed(self, tmp_path: Path) -> None:
        from airflow_mlpipelines.dag_factory import load_pipeline

        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "train.py").write_text("print(1)\n")
        path = _write(
            tmp_path,
            "steps:\n"
            "  - {name: a, script: trian.py, source_directory: src}\n"
            "  - {name: b, script: b.py, source_directory: nowhere}\n",
        )
        with pytest.raises(DefinitionError) as info:
            load_pipeline({}, str(tmp_path / "stub.py"), str(path))
        assert (info.value.step, info.value.field, info.value.location.line) == ("a", "script", 2)
        assert f"script 'trian.py' does not exist in {tmp_path / 'src'}" in str(info.value)
        assert "hint: scripts there: train.py" in str(info.value)
        (other,) = info.value.others
        assert (other.step, other.field) == ("b", "source_directory")
        assert f"source_directory {tmp_path / 'nowhere'} does not exist" in str(info.value)

    def test_validate_reports_it_too(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        from airflow_mlpipelines.cli import main

        path = _write(tmp_path, "steps:\n  - {name: a, script: a.py}\n")
        assert main(["validate", str(path)]) == 1
        assert "script 'a.py' does not exist" in capsys.readouterr().out
        (tmp_path / "a.py").write_text("print(1)\n")
        assert main(["validate", str(path)]) == 0
