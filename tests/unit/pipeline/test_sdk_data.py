"""SDK v1's DataPath / DataPathComputeBinding / OutputFileDatasetConfig build the model; bad use is an
error at the user's line."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    OutputFileDatasetConfig,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
)
from airflow_mlpipelines.pipeline.datapath import (
    datapath_dataset,
    datapath_parameter,
    datapath_schema,
    parse_datapath,
)
from airflow_mlpipelines.pipeline.model import DatasetSpec, OutputSpec, Ref
from airflow_mlpipelines.pipeline.step_task import step_tasks

STORES = ["workspaceblobstore", "lake"]


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno


class TestDataPathParameter:
    def test_builds_a_parameter_and_an_input_chosen_by_it(self) -> None:
        lake = Datastore(None, "lake", url="s3://conn@bucket/lake")
        param = PipelineParameter("source", default_value=DataPath(lake, "raw/jan"))
        line = _line() - 1
        step = PythonScriptStep("prep.py", arguments=[(param, DataPathComputeBinding(mode="download"))])
        spec = Pipeline(None, [step], name="p").to_spec()
        (parameter,) = spec.parameters
        assert parameter == datapath_parameter("source", "lake", "raw/jan")
        assert parameter.datapath
        assert parameter.default == {"datastore": "lake", "path_on_datastore": "raw/jan"}
        (dataset,) = spec.datasets
        assert dataset.parameter == "source"
        assert dataset.mode == "download"
        assert dataset.location is not None
        assert dataset.location.line == line
        assert spec.steps[0].arguments[0].parts == (Ref("input", "source"),)
        (task,) = step_tasks(spec)
        assert task.inputs[0].parameter == "source"
        assert task.parameters == ()  # the content is fingerprinted, not the value

    def test_a_bare_parameter_in_inputs_is_mounted(self) -> None:
        param = PipelineParameter("source", default_value=DataPath("workspaceblobstore", "raw"))
        step = PythonScriptStep("prep.py", inputs=[param])
        (dataset,) = Pipeline(None, [step], name="p").to_spec().datasets
        assert dataset.mode == "direct"
        assert dataset.paths == ("raw",)

    def test_a_fixed_datapath_is_a_dataset(self) -> None:
        step = PythonScriptStep("prep.py", inputs=[DataPath("workspaceblobstore", "raw/x.csv", name="x")])
        (dataset,) = Pipeline(None, [step], name="p").to_spec().datasets
        assert dataset == DatasetSpec("x", "workspaceblobstore", ("raw/x.csv",), location=dataset.location)

    def test_a_binding_on_a_plain_parameter_names_the_line(self) -> None:
        param = PipelineParameter("rate", default_value=0.1)
        step = PythonScriptStep("prep.py", arguments=[(param, DataPathComputeBinding())])
        line = _line() - 1
        with pytest.raises(DefinitionError, match="not a DataPath") as err:
            Pipeline(None, [step], name="p").to_spec()
        assert err.value.location is not None
        assert err.value.location.line == line
        assert err.value.step == "prep"
        assert err.value.field == "inputs"

    def test_an_unknown_binding_mode_names_the_line(self) -> None:
        with pytest.raises(DefinitionError, match="unknown mode 'copy'") as err:
            DataPathComputeBinding(mode="copy")
        assert err.value.location is not None
        assert err.value.location.line == _line() - 2

    def test_a_datastore_by_name_is_declared_under_the_root(self) -> None:
        param = PipelineParameter("source", default_value=DataPath("elsewhere", "raw"))
        step = PythonScriptStep("prep.py", inputs=[param])
        spec = Pipeline(None, [step], name="p").to_spec()
        assert [(d.name, d.url) for d in spec.datastores] == [("elsewhere", None)]

    def test_a_default_outside_its_datastore(self) -> None:
        param = PipelineParameter("source", default_value=DataPath("workspaceblobstore", "../up"))
        step = PythonScriptStep("prep.py", inputs=[param])
        with pytest.raises(DefinitionError, match="must be a relative path") as err:
            Pipeline(None, [step], name="p").to_spec()
        assert err.value.field == "path_on_datastore"


class TestDataPathValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"datastore": "lake", "path_on_datastore": "raw/./jan"}, ("lake", "raw/jan")),
            ("lake/raw/jan", ("lake", "raw/jan")),
            ("workspaceblobstore/a", ("workspaceblobstore", "a")),
        ],
    )
    def test_both_forms(self, value: object, expected: tuple[str, str]) -> None:
        assert parse_datapath(value, STORES) == expected

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("lake", "must be 'datastore/path"),
            ("other/raw", "is not one of the pipeline's"),
            ({"datastore": "lake"}, "exactly the keys"),
            ({"datastore": "lake", "path_on_datastore": "a", "x": 1}, "unknown: x"),
            ({"datastore": "lake", "path_on_datastore": "/etc"}, "relative path"),
            ("lake/a/../../b", "relative path"),
            (3, "must be"),
        ],
    )
    def test_bad_values(self, value: object, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            parse_datapath(value, STORES)

    def test_the_schema_accepts_what_the_parser_accepts(self) -> None:
        import jsonschema

        schema = datapath_schema(STORES)
        jsonschema.validate("lake/raw", schema)
        jsonschema.validate({"datastore": "lake", "path_on_datastore": "raw"}, schema)
        for bad in (
            "other/raw",
            "lake/../x",
            {"datastore": "lake"},
            {"datastore": "x", "path_on_datastore": "a"},
        ):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, schema)

    def test_loader_helpers(self) -> None:
        ds = datapath_dataset("source", "source", "lake", "raw", "download")
        assert ds.parameter == "source"
        assert ds.mode == "download"
        assert ds.paths == ("raw",)


class TestOutputFileDatasetConfig:
    def test_destination_and_consumers(self) -> None:
        lake = Datastore(None, "lake", url="s3://conn@bucket/lake")
        out = OutputFileDatasetConfig(name="prepared", destination=(lake, "p/{run-id}/{output-name}"))
        prep = PythonScriptStep("prep.py", arguments=[out])
        train = PythonScriptStep("train.py", arguments=[out.read_parquet_files().as_input()])
        spec = Pipeline(None, [train], name="p").to_spec()  # the producer is pulled in
        assert [s.name for s in spec.steps] == ["prep", "train"]
        assert spec.step("prep").outputs == (
            OutputSpec("prepared", "lake", "p/{run-id}/prepared", "tabular"),
        )
        assert spec.step("train").inputs == ("prepared",)
        assert "lake" in {d.name for d in spec.datastores}
        consumer = step_tasks(spec)[1]
        assert consumer.inputs[0].producer == "prep"
        assert consumer.inputs[0].kind == "tabular"
        assert prep.outputs == [out]

    def test_unnamed_output_is_named_after_its_step(self) -> None:
        out = OutputFileDatasetConfig()
        PythonScriptStep("prep.py", arguments=["--out", out])
        assert out.name == "prep_output0"
        assert out.spec() == OutputSpec("prep_output0")

    def test_a_destination_without_run_id_needs_overwrite(self) -> None:
        out = OutputFileDatasetConfig(name="o", destination=("workspaceblobstore", "fixed/place"))
        line = _line() - 1
        step = PythonScriptStep("prep.py", arguments=[out])
        with pytest.raises(DefinitionError, match=r"has no \{run-id\}") as err:
            Pipeline(None, [step], name="p").to_spec()
        assert err.value.location is not None
        assert err.value.location.line == line
        assert err.value.field == "destination"
        out.as_upload(overwrite=True)
        assert Pipeline(None, [step], name="p").to_spec().step("prep").outputs[0].path == "fixed/place"

    @pytest.mark.parametrize("destination", [("workspaceblobstore", "/abs/{run-id}"), "s3://x/y", (3, "a")])
    def test_bad_destinations(self, destination: object) -> None:
        with pytest.raises(DefinitionError, match=r"destination|datastore"):
            OutputFileDatasetConfig(destination=destination)

    def test_no_effect_arguments_warn_at_the_line(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            OutputFileDatasetConfig(name="o", source="/tmp/outputs")
            line = _line() - 1
        (warning,) = [w for w in caught if issubclass(w.category, MLPipelinesWarning)]
        assert warning.lineno == line
        assert "source=" in str(warning.message)


class TestAzureStorageDatastores:
    def test_blob_container_names_an_airflow_connection(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no credentials given: nothing to warn about
            store = Datastore.register_azure_blob_container(None, "raw_blobs", "raw", "myaccount")
        assert store.url == "abfs://raw_blobs@raw/"
        other = Datastore.register_azure_blob_container(
            None, "raw_blobs", "raw", "acc", connection="wasb_raw"
        )
        assert other.url == "abfs://wasb_raw@raw/"
        assert other.spec().url == "abfs://wasb_raw@raw/"

    def test_data_lake_gen2(self) -> None:
        store = Datastore.register_azure_data_lake_gen2(
            None, "lake", filesystem="curated", account_name="acc"
        )
        assert store.url == "abfs://lake@curated/"

    @pytest.mark.parametrize(
        ("register", "secret"),
        [
            (
                lambda: Datastore.register_azure_blob_container(None, "b", "c", "a", account_key="k"),
                "account_key",
            ),
            (
                lambda: Datastore.register_azure_blob_container(None, "b", "c", "a", sas_token="s"),  # noqa: S106
                "sas_token",
            ),
            (
                lambda: Datastore.register_azure_data_lake_gen2(None, "b", "c", "a", "t", "i", "secret"),
                "client_id, client_secret, tenant_id",
            ),
        ],
    )
    def test_credentials_in_code_are_not_stored_and_the_line_says_so(
        self, register: Any, secret: str
    ) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store = register()
        (warning,) = [w for w in caught if issubclass(w.category, MLPipelinesWarning)]
        assert warning.filename == __file__
        assert f"{secret} passed in code" in str(warning.message)
        assert "Airflow connection 'b'" in str(warning.message)
        assert "k" not in vars(store).values()
        assert "secret" not in repr(vars(store))

    def test_a_container_must_be_one_name(self) -> None:
        with pytest.raises(DefinitionError, match="must be one container name") as err:
            Datastore.register_azure_blob_container(None, "b", "c/d", "a")
        assert err.value.location is not None
        assert err.value.location.line == _line() - 2

    def test_file_share_is_a_mounted_path(self) -> None:
        store = Datastore.register_azure_file_share(None, "share", "myshare", "acc", mount_path="/mnt/share")
        assert store.url == "/mnt/share"
        with pytest.raises(DefinitionError, match="no filesystem for Azure Files") as err:
            Datastore.register_azure_file_share(None, "share", "myshare", "acc")
        assert err.value.field == "mount_path"
        assert "mount the share 'myshare'" in str(err.value)


class TestSqlQueryDataset:
    def test_becomes_a_transfer_step_feeding_a_tabular_input(self) -> None:
        from airflow_mlpipelines.pipeline import Dataset

        db = Datastore.register_azure_postgre_sql(None, "warehouse", "server", "db")
        rows = Dataset.Tabular.from_sql_query((db, "SELECT * FROM t"), reuse_query="SELECT max(id) FROM t")
        step = PythonScriptStep("train.py", arguments=[rows.as_named_input("rows")])
        spec = Pipeline(None, [step], name="p").to_spec()
        query = spec.step("rows_query")
        assert query.transfer is not None
        assert query.transfer.source.sql_query == "SELECT * FROM t"
        assert query.transfer.reuse_query == "SELECT max(id) FROM t"
        assert query.outputs[0].kind == "tabular"
        consumer = step_tasks(spec)[1]
        assert consumer.inputs[0].producer == "rows_query"
        assert consumer.inputs[0].kind == "tabular"

    def test_a_file_datastore_is_refused_at_the_line(self) -> None:
        from airflow_mlpipelines.pipeline import Dataset

        with pytest.raises(DefinitionError, match="not a SQL datastore") as err:
            Dataset.Tabular.from_sql_query((Datastore(None, "files"), "SELECT 1"))
        assert err.value.location is not None
        assert err.value.location.line == _line() - 2

    def test_the_query_must_be_a_pair(self) -> None:
        from airflow_mlpipelines.pipeline import Dataset

        with pytest.raises(DefinitionError, match="expected \\(sql_datastore"):
            Dataset.Tabular.from_sql_query("SELECT 1")


class TestCondaDependencies:
    def test_run_configuration_takes_them_and_a_local_step_says_they_are_not_installed(self) -> None:
        from airflow_mlpipelines.pipeline import CondaDependencies, RunConfiguration

        deps = CondaDependencies.create(pip_packages=["scikit-learn==1.5.0"])
        deps.add_conda_package("lightgbm")
        config = RunConfiguration(conda_dependencies=deps)
        step = PythonScriptStep("train.py", runconfig=config)
        line = _line() - 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = Pipeline(None, [step], name="p").to_spec()
        (env,) = spec.environments
        assert env.pip == ("scikit-learn==1.5.0",)
        assert env.conda == ("lightgbm",)
        (warning,) = [w for w in caught if "not installed" in str(w.message)]
        assert (warning.filename, warning.lineno) == (__file__, line)
        assert "scikit-learn==1.5.0, conda:lightgbm" in str(warning.message)

    def test_a_container_step_bakes_them_into_its_image(self, tmp_path: Any) -> None:
        from airflow_mlpipelines.compute.build_context import needs_conda, write_contexts
        from airflow_mlpipelines.pipeline import ComputeTarget, CondaDependencies, RunConfiguration

        deps = CondaDependencies.create(pip_packages=["scikit-learn==1.5.0"], conda_packages=["lightgbm=4.3"])
        config = RunConfiguration(conda_dependencies=deps)
        config.environment.docker.base_image = "repo/train:1"
        target = ComputeTarget.docker("box", image="repo/train:1")
        step = PythonScriptStep("train.py", runconfig=config, compute_target=target)
        with warnings.catch_warnings():
            warnings.simplefilter("error", MLPipelinesWarning)  # nothing is dropped: no warning
            spec = Pipeline(None, [step], name="p").to_spec()
        assert needs_conda(spec) == ["repo/train:1"]
        (folder,) = write_contexts(spec, str(tmp_path), base="condaforge/miniforge3")
        text = (tmp_path / "repo_train_1" / "Dockerfile").read_text()
        assert "RUN conda install --yes --channel conda-forge lightgbm=4.3 && conda clean --all --yes" in text
        assert text.index("conda install") < text.index("pip install")
        requirements = (tmp_path / "repo_train_1" / "requirements.txt").read_text().split()
        assert requirements == ["fsspec", "scikit-learn==1.5.0"]
        assert folder.endswith("repo_train_1")


class TestPartitionFormat:
    def test_columns_from_the_end_of_the_path(self) -> None:
        import datetime

        from airflow_mlpipelines.pipeline.partition_format import compile_format

        fmt = compile_format("/{Region}/{PartitionDate:yyyy/MM/dd}/data.csv")
        assert fmt.values("/data/sales/north/2024/01/31/data.csv") == {
            "Region": "north",
            "PartitionDate": datetime.datetime(2024, 1, 31),
        }
        assert compile_format("/{Region}/*.csv").values("x/east/part-1.csv") == {"Region": "east"}
        with pytest.raises(ValueError, match="does not match"):
            fmt.values("/data/sales/north/2024/1/31/data.csv")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("{Region}/data.csv", "must start with '/'"),
            ("/data.csv", "names no column"),
            ("/{a}/{a}", "repeated column"),
            ("/{d:yyyy/QQ}", "unknown date part"),
        ],
    )
    def test_bad_formats_name_the_line(self, text: str, message: str) -> None:
        from airflow_mlpipelines.pipeline import Dataset

        with pytest.raises(DefinitionError, match=message) as err:
            Dataset.Tabular.from_delimited_files("sales", partition_format=text)
        assert err.value.location is not None
        assert err.value.location.line == _line() - 2
        assert err.value.field == "partition_format"
