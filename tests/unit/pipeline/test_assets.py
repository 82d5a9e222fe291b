"""Asset URIs and the asset / datastore-watch forms of ``schedule:`` (YAML and Python definitions)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import load_definition, load_yaml_pipeline
from airflow_mlpipelines.pipeline.assets import (
    AssetSchedule,
    DatastoreWatch,
    canonical_uri,
    datastore_uri,
    datastore_watch,
    describe,
    entry_uri,
    input_uris,
    output_uris,
    schedule_uris,
    watch_uri,
    watched_folder_uri,
)
from airflow_mlpipelines.pipeline.model import PipelineSpec
from airflow_mlpipelines.pipeline.step_task import step_tasks

STEPS = """\
steps:
  - name: prep
    script: s.py
    inputs: [table]
    arguments: [{input: table}, {output: clean}]
    outputs: [clean]
  - name: train
    script: s.py
    arguments: [{input: clean}, {output: model}]
    inputs: [clean]
    outputs: [{name: model, datastore: lake}]
"""
PLAIN = """\
steps:
  - name: train
    script: s.py
    arguments: [{output: model}]
    outputs: [model]
"""
DATA = """\
datastores:
  lake: {url: "s3://aws_lake@bucket/models/"}
  raw: {url: ./raw}
datasets:
  table: {datastore: raw, path: t.csv}
"""


def _load(tmp_path: Path, text: str) -> PipelineSpec:
    path = tmp_path / "def.yaml"
    path.write_text(textwrap.dedent(text))
    return load_yaml_pipeline(str(path))


def _error(tmp_path: Path, text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text)
    return info.value


class TestUris:
    def test_datastore_paths_drop_the_connection_and_trailing_slashes(self) -> None:
        assert (
            datastore_uri("lake", "s3://aws_lake@bucket/models/", "a/b.csv") == "s3://bucket/models/a/b.csv"
        )
        assert datastore_uri("raw", "/data/raw/", "") == "file:///data/raw"
        assert datastore_uri("workspaceblobstore", None, "in/x.csv") == (
            "mlpipelines://datastore/workspaceblobstore/in/x.csv"
        )
        assert canonical_uri("S3://b/k/") == "s3://b/k"

    def test_the_uris_are_what_airflow_stores(self) -> None:
        """The same strings Airflow's own URI sanitiser produces (so name == uri holds after it)."""
        pytest.importorskip("airflow")
        from airflow.sdk import Asset

        for uri in (
            datastore_uri("lake", "s3://aws_lake@bucket/models/", "a.csv"),
            datastore_uri("raw", "/data/raw", "x"),
            datastore_uri("w", None, "p/q"),
            "mlpipelines://output/p/s/o",
        ):
            assert Asset(uri).uri == uri

    def test_steps_read_datasets_and_upstream_outputs_and_write_logical_outputs(self, tmp_path: Path) -> None:
        spec = _load(tmp_path, "name: pipe\n" + DATA + STEPS)
        raw = f"file://{tmp_path}/raw"
        assert input_uris(spec, spec.step("prep")) == [f"{raw}/t.csv"]
        assert input_uris(spec, spec.step("train")) == ["mlpipelines://output/pipe/prep/clean"]
        tasks = {t.step: t for t in step_tasks(spec)}
        assert output_uris(tasks["train"]) == {"model": "mlpipelines://output/pipe/train/model"}

    def test_schedule_entries_in_every_form(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "name: consumer\n"
            + DATA
            + """\
schedule:
  assets:
    - other.train.model
    - lake:2026/model.pt
    - "s3://conn@bucket/k/"
    - /abs/file.csv
    - workspaceblobstore:incoming
"""
            + STEPS,
        )
        assert isinstance(spec.schedule, AssetSchedule)
        assert schedule_uris(spec) == [
            "mlpipelines://output/other/train/model",
            "s3://bucket/models/2026/model.pt",
            "s3://bucket/k",
            "file:///abs/file.csv",
            "mlpipelines://datastore/workspaceblobstore/incoming",
        ]

    def test_a_pipeline_name_with_dots_uses_the_last_two(self) -> None:
        assert entry_uri("team.a.train.model", {}) == "mlpipelines://output/team.a/train/model"


class TestDatastoreWatch:
    def test_yaml_form(self, tmp_path: Path) -> None:
        spec = _load(
            tmp_path,
            "name: w\nparameters: {data: ''}\n"
            + DATA
            + """\
schedule:
  datastore: raw
  path_on_datastore: /incoming/
  polling_interval: 0.5
  data_path_parameter_name: data
"""
            + STEPS,
        )
        watch = spec.schedule
        assert isinstance(watch, DatastoreWatch)
        assert (watch.datastore, watch.path_on_datastore, watch.polling_seconds) == ("raw", "incoming", 30.0)
        assert watch.data_path_parameter_name == "data"
        assert watch_uri(spec, watch) == "mlpipelines://watch/w/raw/incoming"
        assert watched_folder_uri(spec, watch) == f"file://{tmp_path}/raw/incoming"

    def test_defaults_are_azure_mls(self) -> None:
        watch = datastore_watch("workspaceblobstore")
        assert (watch.path_on_datastore, watch.polling_interval, watch.polling_seconds) == ("", 5.0, 300.0)

    def test_errors_name_the_callers_line(self) -> None:
        with pytest.raises(DefinitionError) as info:
            datastore_watch("raw", polling_interval=-5)
        assert info.value.location is not None
        assert info.value.location.file == __file__
        assert "positive number of minutes" in str(info.value)

    def test_described_in_one_line(self) -> None:
        assert describe(datastore_watch("raw", "in", 0.5)) == "new or changed files in raw:in, every 0.5 min"
        assert describe(AssetSchedule(("a.b.c", "raw:x"))) == "assets a.b.c, raw:x"
        assert describe("@daily") == "@daily"

    def test_a_datastore_object_is_taken_by_its_name(self) -> None:
        class Store:
            name = "raw"

        assert datastore_watch(Store(), "in").datastore == "raw"

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"datastore": ""}, "schedule.datastore"),
            ({"datastore": "raw", "polling_interval": 0}, "schedule.polling_interval"),
            ({"datastore": "raw", "polling_interval": True}, "schedule.polling_interval"),
            ({"datastore": "raw", "path_on_datastore": 3}, "schedule.path_on_datastore"),
            ({"datastore": "raw", "data_path_parameter_name": ""}, "schedule.data_path_parameter_name"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, object], field: str) -> None:
        with pytest.raises(DefinitionError) as info:
            datastore_watch(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field


class TestInvalid:
    def test_unknown_parameter_names_the_line_and_suggests(self, tmp_path: Path) -> None:
        exc = _error(
            tmp_path,
            "name: w\nparameters: {data: ''}\nschedule:\n  datastore: raw\n  data_path_parameter_name: dta\n"
            + PLAIN,
        )
        assert exc.location is not None
        assert (exc.location.line, exc.field) == (3, "schedule.data_path_parameter_name")
        assert "did you mean 'data'" in str(exc)

    def test_the_parameter_must_be_a_string(self, tmp_path: Path) -> None:
        exc = _error(
            tmp_path,
            "name: w\nparameters: {n: 3}\nschedule: {datastore: raw, data_path_parameter_name: n}\n" + PLAIN,
        )
        assert "must be a string, not integer" in str(exc)

    def test_a_sql_datastore_cannot_be_watched(self, tmp_path: Path) -> None:
        exc = _error(
            tmp_path,
            "name: w\ndatastores: {db: {connection: pg}}\nschedule: {datastore: db}\n" + PLAIN,
        )
        assert exc.field == "schedule.datastore"
        assert "SQL database" in str(exc)

    def test_a_bad_polling_interval_is_a_schema_error(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: w\nschedule: {datastore: raw, polling_interval: -1}\n" + STEPS)
        assert exc.location is not None
        assert exc.location.line == 2
        assert "schedule" in str(exc.field)

    def test_a_misspelt_schedule_key_gets_a_hint(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: w\nschedule: {datastore: raw, path_on_datastor: x}\n" + STEPS)
        assert "path_on_datastore" in str(exc)

    def test_an_empty_asset_list(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: p\n" + DATA + "schedule: {assets: []}\n" + STEPS)
        assert exc.field == "schedule.assets"

    def test_an_entry_in_no_form(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: p\n" + DATA + "schedule:\n  assets: [fine.a.b, nonsense]\n" + STEPS)
        assert exc.location is not None
        assert (exc.location.line, exc.field) == (8, "schedule.assets[1]")
        assert "'nonsense' is not a URI" in str(exc)

    def test_its_own_output_would_loop(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: p\n" + DATA + "schedule: {assets: [p.train.model]}\n" + STEPS)
        assert "its own output train.model" in str(exc)

    def test_its_own_unknown_output_suggests(self, tmp_path: Path) -> None:
        exc = _error(tmp_path, "name: p\n" + DATA + "schedule: {assets: [p.train.modle]}\n" + STEPS)
        assert "no step 'train' with output 'modle'" in str(exc)
        assert "train.model" in str(exc)

    def test_a_sql_datastore_is_no_asset(self, tmp_path: Path) -> None:
        exc = _error(
            tmp_path,
            "name: p\ndatastores: {db: {connection: pg}}\nschedule: {assets: ['db:table']}\n" + PLAIN,
        )
        assert "SQL database" in str(exc)


class TestPython:
    def test_pipeline_schedule_takes_assets_and_a_watch(self, tmp_path: Path) -> None:
        definition = tmp_path / "defs.py"
        definition.write_text(
            textwrap.dedent(
                """\
                from airflow_mlpipelines.pipeline import Pipeline, PipelineParameter, PythonScriptStep
                from airflow_mlpipelines.pipeline.assets import datastore_watch

                class Uri:
                    uri = "s3://bucket/k"

                path = PipelineParameter("data", default_value="")
                step = PythonScriptStep(name="s", script_name="s.py", arguments=[path])
                on_assets = Pipeline(steps=[step], name="on_assets", schedule=["other.s.out", Uri()])
                watched = Pipeline(
                    steps=[step], name="watched",
                    schedule=datastore_watch("workspaceblobstore", "in", 1, "data"),
                )
                """
            )
        )
        (tmp_path / "s.py").write_text("")
        specs = {s.name: s for s in load_definition(str(definition))}
        assert schedule_uris(specs["on_assets"]) == ["mlpipelines://output/other/s/out", "s3://bucket/k"]
        assert isinstance(specs["watched"].schedule, DatastoreWatch)

    def test_a_schedule_of_another_type(self, tmp_path: Path) -> None:
        definition = tmp_path / "defs.py"
        definition.write_text(
            "from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep\n"
            "p = Pipeline(steps=[PythonScriptStep(name='s', script_name='s.py')], name='p', schedule=[3])\n"
        )
        with pytest.raises(DefinitionError) as info:
            load_definition(str(definition))
        assert info.value.field == "schedule[0]"
        assert info.value.location is not None
        assert info.value.location.line == 2
