"""Registered models as step inputs: the YAML ``models:`` section and ``Model(ws, name, version)`` in a
Python definition (a reference: parse time reads no registry)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline.python_loader import load_python_pipelines
from airflow_mlpipelines.pipeline.step_task import InputBinding, StepTask, step_tasks
from airflow_mlpipelines.pipeline.yaml_loader import load_yaml_pipeline

YAML = """\
name: consume
datasets:
  raw: {path: raw.csv}
models:
  clf: {name: classifier, version: 3}
  newest: classifier
  pinned: "classifier:2"
steps:
  - name: score
    script: score.py
    inputs: [raw, clf, newest, pinned]
    arguments: [{input: clf}, {input: newest}]
"""


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


class TestValidModelInputs:
    def test_yaml_forms_become_model_bindings(self, tmp_path: Path) -> None:
        (task,) = step_tasks(load_yaml_pipeline(str(_yaml(tmp_path, YAML))))
        assert task.input("clf") == InputBinding("clf", kind="model", model="classifier", model_version=3)
        assert task.input("newest").model_version is None
        assert task.input("pinned").model_version == 2
        assert task.input("raw").kind == "file"
        assert StepTask.from_json(task.to_json()) == task

    def test_sdk_model_in_inputs_and_arguments_reads_no_registry(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import airflow_mlpipelines.core  # noqa: F401 - installs its default registry before we replace it
        from airflow_mlpipelines.runtime import sdk_model

        def no_registry() -> sdk_model.ModelRegistry:
            raise AssertionError("a definition looked up the registry")

        monkeypatch.delenv("MLP_MODEL_REGISTRY", raising=False)
        monkeypatch.setattr(sdk_model, "_fallback", no_registry)
        definition = tmp_path / "score_def.py"
        definition.write_text(
            textwrap.dedent(
                """\
                from airflow_mlpipelines.core import Model
                from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep, Workspace

                ws = Workspace()
                clf = Model(ws, "classifier", version=3)
                score = PythonScriptStep(
                    "score.py",
                    name="score",
                    arguments=["--model", clf, "--latest", Model(ws, "classifier").as_named_input("newest")],
                )
                pipeline = Pipeline(ws, [score], name="score_sdk")
                """
            )
        )
        (spec,) = load_python_pipelines(str(definition))
        (task,) = step_tasks(spec)
        assert task.input("classifier") == InputBinding(
            "classifier", kind="model", model="classifier", model_version=3
        )
        assert task.input("newest").model_version is None
        assert task.argument_tokens()[1] == [{"input": "classifier"}]


class TestInvalidModelInputs:
    def test_a_version_that_is_not_a_number(self, tmp_path: Path) -> None:
        text = YAML.replace('"classifier:2"', '"classifier:two"')
        with pytest.raises(DefinitionError, match="the version after ':' must be a number") as info:
            load_yaml_pipeline(str(_yaml(tmp_path, text)))
        assert info.value.field == "models.pinned"
        assert info.value.location is not None
        assert info.value.location.line == 7

    def test_a_bad_model_name_and_a_zero_version(self, tmp_path: Path) -> None:
        with pytest.raises(DefinitionError, match="invalid model name"):
            load_yaml_pipeline(str(_yaml(tmp_path, YAML.replace("name: classifier,", "name: a/b,"))))
        with pytest.raises(DefinitionError, match="version"):
            load_yaml_pipeline(str(_yaml(tmp_path, YAML.replace("version: 3", "version: 0"))))

    def test_a_name_used_by_a_dataset_and_a_model(self, tmp_path: Path) -> None:
        text = YAML.replace("  clf: {name: classifier, version: 3}", "  raw: {name: classifier}")
        with pytest.raises(DefinitionError, match="both as a dataset and as a model"):
            load_yaml_pipeline(str(_yaml(tmp_path, text)))

    def test_an_undeclared_model_input(self, tmp_path: Path) -> None:
        with pytest.raises(DefinitionError, match="clff"):
            load_yaml_pipeline(
                str(_yaml(tmp_path, YAML.replace("inputs: [raw, clf,", "inputs: [raw, clff,")))
            )
