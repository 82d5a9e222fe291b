"""ParallelRunStep in its three forms (SDK v1 Python, ``type: parallel_run`` YAML, SDK v1's YAML dialect):
the settings they compile to, SDK v1's defaults, and bad settings reported at file:line, step and field."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.model import ParallelRunSpec, PipelineSpec
from airflow_mlpipelines.pipeline.parallel import mini_batch_limit, parse_size
from airflow_mlpipelines.pipeline.step_task import step_tasks

YAML = """\
name: batch
datastores:
  local: {url: data}
datasets:
  images: {datastore: local, path: images}
  labels: {datastore: local, path: labels.txt}
steps:
  - name: score
    type: parallel_run
    source_directory: src
    inputs: [images]
    side_inputs: [labels]
    output: scores
    arguments: [--labels, {input: labels}]
    parallel_run_config:
      entry_script: score.py
      mini_batch_size: 3
      error_threshold: 5
      output_action: append_row
      append_row_file_name: results.txt
      process_count_per_node: 2
      node_count: 3
      run_invocation_timeout: 120
"""

SDK_YAML = """\
pipeline:
    name: sdkbatch
    data_references:
        images: {datastore: workspaceblobstore, path_on_datastore: images}
    steps:
        score:
            type: ParallelRunStep
            name: "batch scoring"
            allow_reuse: false
            arguments: ["--out", "output:scores"]
            parallel_run_config:
                entry_script: score.py
                source_directory: src
                mini_batch_size: "5"
                error_threshold: -1
                output_action: summary_only
                node_count: 2
            input_data:
                images: {source: images}
            outputs:
                scores: {destination: Scores, datastore: workspaceblobstore}
"""

PYTHON = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, PipelineData, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
table = Dataset.Tabular.from_delimited_files([(ws.get_default_datastore(), "rows.csv")])
config = ParallelRunConfig(
    entry_script="score.py", source_directory="src", error_threshold=10,
    compute_target="local", node_count=1,{extra}
)
step = ParallelRunStep(
    name="score", parallel_run_config=config, inputs=[table.as_named_input("rows")],
    output=PipelineData("scores"),
)
pipeline = Pipeline(ws, [step], name="pybatch")
"""


def _load(tmp_path: Path, text: str, name: str) -> PipelineSpec:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MLPipelinesWarning)
        (spec,) = load_definition(str(path))
    return spec


def test_yaml_parallel_run_step(tmp_path: Path) -> None:
    spec = _load(tmp_path, YAML, "batch.yaml")
    step = spec.step("score")
    assert (step.kind, step.script_name, step.inputs) == ("parallel_run", "score.py", ("images", "labels"))
    assert [o.name for o in step.outputs] == ["scores"]
    assert step.parallel == ParallelRunSpec(
        entry_script="score.py",
        input="images",
        output="scores",
        mini_batch_size=3,
        error_threshold=5,
        append_row_file_name="results.txt",
        process_count_per_node=2,
        node_count=3,
        run_invocation_timeout=120,
    )
    (task,) = step_tasks(spec)
    assert task.parallel == step.parallel  # the settings travel to the runner in the StepTask...
    assert type(task).from_json(task.to_json()) == task  # ...and survive its JSON round trip


def test_sdk_yaml_dialect_parallel_run_step(tmp_path: Path) -> None:
    spec = _load(tmp_path, SDK_YAML, "sdk.yaml")
    step = spec.step("score")
    assert step.kind == "parallel_run"
    assert step.source_directory == str(tmp_path / "src")  # parallel_run_config's source_directory
    assert step.allow_reuse is False
    assert step.parallel is not None
    assert (step.parallel.input, step.parallel.output) == ("images", "Scores")
    assert (step.parallel.mini_batch_size, step.parallel.output_action) == (5, "summary_only")


def test_python_parallel_run_step_defaults(tmp_path: Path) -> None:
    spec = _load(tmp_path, PYTHON.format(extra=""), "py.py")
    step = spec.step("score")
    assert step.parallel is not None
    assert step.parallel.mini_batch_size is None
    assert mini_batch_limit(step.parallel, tabular=True) == 1024 * 1024  # SDK v1: about 1 MB of rows
    assert mini_batch_limit(step.parallel, tabular=False) == 10  # SDK v1: 10 files
    assert step.parallel.append_row_file_name == "parallel_run_step.txt"
    assert (step.parallel.run_invocation_timeout, step.parallel.run_max_try) == (60, 3)


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), ("3", 3), ("1MB", 1024**2), ("256 KB", 256 * 1024), ("1.5kb", 1536)]
)
def test_mini_batch_sizes(value: object, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ('\n    output_action="append_rows"', "output_action", "output_action must be one of append_row"),
        ("\n    mini_batch_size=0", "mini_batch_size", "mini_batch_size must be at least 1, not 0"),
        ('\n    mini_batch_size="lots"', "mini_batch_size", "'lots' is not a size"),
        ("\n    allowed_failed_percent=150", "allowed_failed_percent", "a number from 0 to 100"),
        ("\n    run_invocation_timeout=0", "run_invocation_timeout", "an integer >= 1"),
        ('\n    append_row_file_name="a/b.txt"', "append_row_file_name", "must be a file name"),
    ],
)
def test_bad_python_settings_name_the_line_step_and_field(
    tmp_path: Path, extra: str, field: str, message: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, PYTHON.format(extra=extra), "bad.py")
    error = info.value
    assert message in error.reason
    assert (error.step, error.field) == ("score", f"parallel_run_config.{field}")
    assert error.location is not None
    # The line of the ParallelRunConfig(...) that holds the value.
    assert (Path(error.location.file).name, error.location.line) == ("bad.py", 7)


def test_missing_entry_script_in_python(tmp_path: Path) -> None:
    text = PYTHON.format(extra="").replace('entry_script="score.py", ', "")
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text, "noentry.py")
    assert info.value.field == "parallel_run_config.entry_script"
    assert "entry_script is required" in info.value.reason


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            "output_action: append_row",
            "output_action: append_rows",
            19,
            "parallel_run_config.output_action",
            "append_row",
        ),
        ("mini_batch_size: 3", "mini_batch_size: 0", 15, "parallel_run_config.mini_batch_size", "at least 1"),
        (
            "entry_script: score.py",
            "entry_scrip: score.py",
            16,
            "parallel_run_config.entry_scrip",
            "entry_scrip",
        ),
        (
            "      node_count: 3\n",
            "      node_count: 3\n      partition_keys: [id]\n",
            8,
            "parallel_run_config.partition_keys",
            "partition_keys ['id'] are not keys of input 'images''s partition_format",
        ),
    ],
)
def test_bad_yaml_settings_name_the_line_step_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in YAML
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, YAML.replace(old, new), "bad.yaml")
    error = info.value
    assert message in str(error)
    assert error.step == "score"
    assert error.field == field
    assert error.location is not None
    assert error.location.line == line


def test_partition_keys_of_a_file_dataset_are_keys_of_its_partition_format(tmp_path: Path) -> None:
    text = YAML.replace(
        "images: {datastore: local, path: images}",
        "images: {datastore: local, path: images, partition_format: '/{camera}/*.png'}",
    )
    spec = _load(
        tmp_path,
        text.replace("      node_count: 3\n", "      node_count: 3\n      partition_keys: [camera]\n"),
        "ok.yaml",
    )
    assert spec.step("score").parallel.partition_keys == ("camera",)  # type: ignore[union-attr]
    with pytest.raises(DefinitionError) as info:
        _load(
            tmp_path,
            text.replace("      node_count: 3\n", "      node_count: 3\n      partition_keys: [day]\n"),
            "bad.yaml",
        )
    assert (
        "partition_keys ['day'] are not keys of input 'images''s partition_format (/{camera}/*.png)"
        in str(info.value)
    )
    assert info.value.field == "parallel_run_config.partition_keys"


def test_partition_format_keys_are_read_as_tabular_reads_read_them() -> None:
    from airflow_mlpipelines.pipeline.parallel import format_keys, path_keys

    fmt = "/{region}/{day:yyyy-MM-dd}/*.csv"
    assert format_keys(fmt) == ["region", "day"]
    assert path_keys(fmt, "a/b/eu/2026-01-02/x.csv") == {"region": "eu", "day": "2026-01-02"}
    assert path_keys(fmt, "eu/2026-01-02/x.txt") is None


def test_a_missing_entry_script_file_is_reported_before_any_run(tmp_path: Path) -> None:
    from airflow_mlpipelines.pipeline.sources import check_sources

    spec = _load(tmp_path, YAML, "batch.yaml")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "scorer.py").write_text("def run(b):\n    return b\n")
    with pytest.raises(DefinitionError) as info:
        check_sources(spec)  # what a stub runs when Airflow imports it
    error = info.value
    assert "entry_script 'score.py' does not exist in" in error.reason
    assert (error.step, error.field) == ("score", "parallel_run_config.entry_script")
    assert error.hint == "scripts there: scorer.py"


CONFIG_YAML = """\
parallel_run_config:
  entry_script: score.py
  source_directory: src
  mini_batch_size: "2MB"
  error_threshold: 7
  output_action: summary_only
  environment: scoring-env
  node_count: 2
"""


def test_parallel_run_config_from_a_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "prc.yml").write_text(CONFIG_YAML)
    text = PYTHON.format(extra="").replace(
        'config = ParallelRunConfig(\n    entry_script="score.py", source_directory="src", '
        'error_threshold=10,\n    compute_target="local", node_count=1,\n)',
        'config = ParallelRunConfig.load_yaml(ws, "prc.yml")',
    )
    assert "load_yaml" in text
    spec = _load(tmp_path, text, "fromyaml.py")
    step = spec.step("score")
    assert step.parallel is not None
    assert (step.parallel.mini_batch_size, step.parallel.error_threshold) == (2 * 1024**2, 7)
    assert (step.parallel.output_action, step.parallel.node_count) == ("summary_only", 2)
    assert step.source_directory == str(tmp_path / "src")

    (tmp_path / "prc.yml").write_text(CONFIG_YAML.replace("error_threshold", "error_treshold"))
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text, "fromyaml2.py")
    assert info.value.field == "parallel_run_config.error_treshold"
    assert "error_threshold" in str(info.value)  # did you mean


def test_sdk_yaml_dialect_reads_a_parallel_run_config_file(tmp_path: Path) -> None:
    (tmp_path / "prc.yml").write_text(CONFIG_YAML)
    text = SDK_YAML.replace(
        """            parallel_run_config:
                entry_script: score.py
                source_directory: src
                mini_batch_size: "5"
                error_threshold: -1
                output_action: summary_only
                node_count: 2
""",
        "            parallel_run_config: prc.yml\n",
    )
    assert "prc.yml" in text
    step = _load(tmp_path, text, "sdkfile.yaml").step("score")
    assert step.parallel is not None
    assert (step.parallel.error_threshold, step.parallel.mini_batch_size) == (7, 2 * 1024**2)
    assert step.source_directory == str(tmp_path / "src")
    with pytest.raises(DefinitionError, match=r"parallel_run_config file .* does not exist"):
        _load(tmp_path, text.replace("prc.yml", "missing.yml"), "sdkmissing.yaml")
