"""Execute Python Script steps in YAML and in SDK-style Python definitions compile to the same model."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.model import OutputSpec

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "dags_examples" / "definitions"

YAML = """\
name: eps_model
datasets:
  raw: {path: raw.csv, kind: tabular}
  other: {path: other.parquet, kind: tabular}
steps:
  - name: first
    type: execute_python_script
    dataframe2: raw
    bundle: lib/Hello.zip
    time_limit_seconds: 30
    memory_limit_mb: 512
    script: |
      import Hello

      def azureml_main(df):
          return df,
  - name: second
    type: execute_python_script
    dataframe1: first_dataframe
    dataframe2: other
    script_file: scripts/rank.py
    outputs: {dataframe: ranked, visualizations: charts}
    allow_reuse: false
  - name: consume
    script: consume.py
    arguments: [{input: ranked}]
"""


def _load(tmp_path: Path, text: str = YAML, name: str = "def.yaml") -> object:
    path = tmp_path / name
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (spec,) = load_definition(str(path))
    return spec


def test_yaml_step_model(tmp_path: Path) -> None:
    spec = _load(tmp_path)
    first, second, consume = (spec.step(n) for n in ("first", "second", "consume"))  # type: ignore[attr-defined]
    assert first.kind == second.kind == "execute_python_script"
    assert consume.kind == "python_script"
    assert first.inputs == ("raw",)
    assert first.outputs == (OutputSpec("first_dataframe"), OutputSpec("first_visualizations"))
    assert first.eps.ports == {"dataframe1": None, "dataframe2": "raw"}
    assert first.eps.bundle == str(tmp_path / "lib" / "Hello.zip")
    assert first.eps.script_line == 13  # the line after "script: |"
    assert (first.eps.time_limit_seconds, first.eps.memory_limit_mb) == (30, 512)
    assert first.script_name == "azureml_main.py"
    assert second.inputs == ("first_dataframe", "other")
    assert second.eps.script_file == str(tmp_path / "scripts" / "rank.py")
    assert second.script_name == "rank.py"
    assert [o.name for o in second.outputs] == ["ranked", "charts"]
    assert second.allow_reuse is False
    assert [s.name for s in spec.steps] == ["first", "second", "consume"]  # type: ignore[attr-defined]


def test_sdk_step_matches_yaml(tmp_path: Path) -> None:
    (tmp_path / "def.py").write_text(
        '''
from airflow_mlpipelines.pipeline import Dataset, ExecutePythonScriptStep, Pipeline, PythonScriptStep

raw = Dataset.Tabular.from_delimited_files("raw.csv").as_named_input("raw")
other = Dataset.Tabular.from_parquet_files("other.parquet").as_named_input("other")
SCRIPT = """import Hello

def azureml_main(df):
    return df,
"""
first = ExecutePythonScriptStep(
    name="first", script=SCRIPT, dataframe2=raw, bundle="lib/Hello.zip",
    time_limit_seconds=30, memory_limit_mb=512,
)
second = ExecutePythonScriptStep(
    name="second", script_file="scripts/rank.py", dataframe1=first.dataframe_output, dataframe2=other,
    dataframe_output="ranked", visualizations_output="charts", allow_reuse=False,
)
consume = PythonScriptStep(script_name="consume.py", arguments=[second.dataframe_output.as_input()])
pipeline = Pipeline(steps=[consume], name="eps_model")
'''
    )
    (sdk,) = load_definition(str(tmp_path / "def.py"))
    yaml_spec = _load(tmp_path)
    for name in ("first", "second"):
        a, b = sdk.step(name), yaml_spec.step(name)  # type: ignore[attr-defined]
        assert (a.kind, a.inputs, a.outputs, a.allow_reuse, a.script_name) == (
            b.kind,
            b.inputs,
            b.outputs,
            b.allow_reuse,
            b.script_name,
        )
        assert a.eps.ports == b.eps.ports
        assert a.eps.script == b.eps.script
        assert (a.eps.script_file, a.eps.bundle) == (b.eps.script_file, b.eps.bundle)
    assert [s.name for s in sdk.steps] == ["first", "second", "consume"]


def test_examples_load(tmp_path: Path) -> None:
    (hello,) = load_definition(str(EXAMPLES / "eps_hello.yaml"))
    assert hello.step("hello").eps.bundle == str(EXAMPLES / "bundles" / "Hello.zip")
    assert Path(hello.step("hello").eps.bundle).is_file()
    (scatter,) = load_definition(str(EXAMPLES / "eps_scatter.yaml"))
    assert Path(scatter.step("scatter").eps.script_file).is_file()
    (features,) = load_definition(str(EXAMPLES / "eps_features.py"))
    assert [s.name for s in features.steps] == ["load_diabetes", "rank_features"]
    assert features.step("load_diabetes").inputs == ()
    assert Path(features.step("rank_features").eps.script_file).is_file()


def test_sdk_errors_name_the_caller_line(tmp_path: Path) -> None:
    (tmp_path / "def.py").write_text(
        "from airflow_mlpipelines.pipeline import ExecutePythonScriptStep, Pipeline\n"
        "step = ExecutePythonScriptStep(name='s', script='def main():\\n    pass\\n')\n"
        "pipeline = Pipeline(steps=[step], name='p')\n"
    )
    with pytest.raises(DefinitionError) as info:
        load_definition(str(tmp_path / "def.py"))
    assert info.value.location is not None
    assert (info.value.location.line, info.value.step, info.value.field) == (2, "s", "script")
    assert "defines no function azureml_main" in str(info.value)
