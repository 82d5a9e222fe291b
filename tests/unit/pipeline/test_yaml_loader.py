"""YAML definitions: every example loads; every bad fixture fails naming file:line, step, field and a hint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import load_yaml_pipeline
from airflow_mlpipelines.pipeline.model import Argument, Ref

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "dags_examples" / "definitions"
BAD = REPO / "tests" / "fixtures" / "definitions" / "bad"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "def.yaml"
    path.write_text(text)
    return path


class TestValidDefinitions:
    @pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
    def test_examples_load(self, path: Path) -> None:
        spec = load_yaml_pipeline(str(path))
        assert spec.name == path.stem
        assert spec.steps[0].name == "prepare"

    def test_seed004_shape(self) -> None:
        spec = load_yaml_pipeline(str(EXAMPLES / "seed004_yaml.yaml"))
        names = [s.name for s in spec.steps]
        assert (names[0], names[-1]) == ("prepare", "compare")
        train = spec.step("train")
        assert train.inputs == ("prepped_data",)
        assert [o.name for o in train.outputs] == ["training_results"]
        assert train.source_directory == str(EXAMPLES / "src" / "train")
        assert train.arguments[1] == Argument((Ref("input", "prepped_data"),))
        assert spec.datastores[0].url == str(EXAMPLES / "data")
        assert spec.datasets[0].paths == ("raw/measurements.csv",)

    def test_inline_refs_and_inferred_inputs(self, tmp_path: Path) -> None:
        spec = load_yaml_pipeline(
            str(
                _write(
                    tmp_path,
                    "parameters: {lr: 0.5}\n"
                    "datasets: {raw: {path: a.csv}}\n"
                    "steps:\n"
                    "  - name: s\n"
                    "    script: s.py\n"
                    "    arguments: ['--in=${{inputs.raw}}:${{parameters.lr}}', '${{ outputs.o }}']\n"
                    "    outputs: [o]\n",
                )
            )
        )
        step = spec.steps[0]
        assert step.inputs == ("raw",)
        assert step.arguments[0].parts == ("--in=", Ref("input", "raw"), ":", Ref("parameter", "lr"))
        assert step.arguments[1].parts == (Ref("output", "o"),)
        assert spec.name == "def"

    def test_defaults_and_parameter_shorthand(self, tmp_path: Path) -> None:
        spec = load_yaml_pipeline(
            str(
                _write(
                    tmp_path,
                    "name: d\ndefaults: {source_directory: code, compute: local}\n"
                    "parameters: {epochs: 3, rate: 0.1, flag: true, label: x}\n"
                    "steps: [{name: s, script_name: s.py}]\n",
                )
            )
        )
        assert spec.steps[0].source_directory == str(tmp_path / "code")
        assert {p.name: p.type for p in spec.parameters} == {
            "epochs": "integer",
            "rate": "number",
            "flag": "boolean",
            "label": "string",
        }

    def test_absolute_and_remote_datastore_urls_kept(self, tmp_path: Path) -> None:
        spec = load_yaml_pipeline(
            str(
                _write(
                    tmp_path,
                    "datastores: {a: {url: 's3://bucket/x'}, b: {url: /abs/path}}\n"
                    "steps: [{name: s, script: s.py}]\n",
                )
            )
        )
        assert [d.url for d in spec.datastores] == ["s3://bucket/x", "/abs/path"]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("compute: gpu-cluster", "compute 'gpu-cluster' has no effect yet"),
        ("environment: {image: 'x:1'}", "environment only counts for reuse yet"),
    ],
)
def test_keys_without_effect_warn_at_their_step(tmp_path: Path, key: str, fragment: str) -> None:
    path = _write(tmp_path, f"steps:\n  - name: s\n    script: s.py\n    {key}\n")
    with pytest.warns(MLPipelinesWarning, match=fragment) as record:
        load_yaml_pipeline(str(path))
    assert (record[0].filename, record[0].lineno) == (str(path), 2)


def _expectation(path: Path) -> dict[str, str]:
    header = path.read_text().splitlines()[0]
    assert header.startswith("# expect: "), path
    fields = re.findall(r"(\w+)=(.*?)(?= \w+=|$)", header[len("# expect: ") :])
    return dict(fields)


class TestInvalidDefinitions:
    @pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
    def test_bad_fixture_reports_where_and_why(self, path: Path) -> None:
        expected = _expectation(path)
        with pytest.raises(DefinitionError) as info:
            load_yaml_pipeline(str(path))
        error = info.value
        assert error.location is not None
        assert error.location.file == str(path)
        assert str(error.location.line) == expected["line"]
        assert (error.step or "-") == expected["step"]
        assert (error.field or "-") == expected["field"]
        if "hint" in expected:
            assert error.hint == expected["hint"]
        if "message" in expected:
            assert expected["message"] in error.reason
        assert str(path) in str(error)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(DefinitionError, match="cannot read definition"):
            load_yaml_pipeline(str(tmp_path / "nope.yaml"))

    def test_bad_argument_mapping(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps: [{name: s, script: s.py, arguments: [{inptu: x}]}]\n")
        with pytest.raises(DefinitionError, match=r"one of \{input: name\}") as info:
            load_yaml_pipeline(str(path))
        assert (info.value.step, info.value.field) == ("s", "arguments[0]")

    def test_dataset_without_path(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "datasets: {raw: {}}\nsteps: [{name: s, script: s.py}]\n")
        with pytest.raises(DefinitionError, match="needs 'path' or 'paths'"):
            load_yaml_pipeline(str(path))

    def test_invalid_step_name(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "steps: [{name: 'has space', script: s.py}]\n")
        with pytest.raises(DefinitionError, match="invalid step name 'has space'"):
            load_yaml_pipeline(str(path))
