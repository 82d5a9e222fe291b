"""Authoring tools (issue 17): ``mlpipelines validate`` on files and folders, the JSON Schema editors use,
the typed SDK, and ``airflow mlpipelines`` through the provider's CLI metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from airflow_mlpipelines.cli import main
from airflow_mlpipelines.pipeline.json_schema import SHIPPED, pipeline_schema, schema_text
from airflow_mlpipelines.pipeline.yaml_loader import read_yaml
from airflow_mlpipelines.pipeline.yaml_schema import PipelineModel

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_mlpipelines"
FIXTURES = REPO / "tests" / "fixtures" / "definitions"
YAML_FILES = sorted(
    [*FIXTURES.glob("*/*.yaml"), *FIXTURES.glob("*/*.yml"), *(REPO / "dags_examples").rglob("*.yaml")]
)


def _readable(path: Path) -> bool:
    """Files the YAML reader rejects (syntax, duplicate keys, unsafe tags) never reach a schema."""
    try:
        read_yaml(str(path))
    except Exception:
        return False
    return True


SCHEMA_FILES = [p for p in YAML_FILES if _readable(p)]

GOOD = """\
name: {name}
schedule: "0 3 * * *"
steps:
  - name: s
    script: s.py
"""


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "s.py").write_text("print('step')\n")
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_validate_a_folder_lists_every_problem_of_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    (folder / "one.yaml").write_text(GOOD.format(name="same"))
    (folder / "two.yaml").write_text(GOOD.format(name="same"))
    (folder / "bad.yaml").write_text(
        "name: bad\nschedule: every day\nsteps:\n  - {name: a, script: s.py, argumentz: []}\n"
        "  - {name: b, script: s.py, inputs: [nowhere]}\n"
    )
    (folder / "stub.py").write_text("from airflow_mlpipelines.dag_factory import load_pipeline\n")
    assert main(["validate", "--format", "json", str(folder)]) == 1
    report = _json(capsys)
    files = {Path(str(f["file"])).name: f for f in report["files"]}  # type: ignore[attr-defined]
    assert set(files) == {"one.yaml", "two.yaml", "bad.yaml"}  # the DAG stub is not a definition
    assert files["one.yaml"]["ok"] is True
    (dup,) = files["two.yaml"]["problems"]
    assert dup["field"] == "name"
    assert "pipeline name 'same' is also used by" in dup["message"]
    fields = {(p["line"], p["field"]) for p in files["bad.yaml"]["problems"]}
    assert (4, "argumentz") in fields
    assert (2, "schedule") in fields  # checked as Airflow would, although the file has schema errors too


def test_validate_checks_the_schedule_as_airflow_will(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    (folder / "p.yaml").write_text(GOOD.format(name="p").replace('"0 3 * * *"', '"61 * * * *"'))
    assert main(["validate", str(folder / "p.yaml")]) == 1
    out = capsys.readouterr().out
    assert "p.yaml:2, field 'schedule': schedule '61 * * * *' is not one Airflow accepts" in out
    (folder / "p.yaml").write_text(GOOD.format(name="p"))
    assert main(["validate", str(folder / "p.yaml")]) == 0


def test_a_step_script_handed_to_validate_is_never_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "train.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    assert main(["validate", str(script)]) == 1
    assert "is not a pipeline definition" in capsys.readouterr().out
    assert not marker.exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("mlpipelines 0.")


def test_the_shipped_schema_is_the_generated_one(tmp_path: Path) -> None:
    assert (PACKAGE / SHIPPED).read_text() == schema_text(), (
        "run: mlpipelines schema -o airflow_mlpipelines/schema/pipeline.schema.json"
    )
    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["$id"].endswith("pipeline.schema.json")


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_and_loader_agree(path: Path) -> None:
    """A schema validator accepts a file exactly when the loader's schema stage does (cross-field rules,
    such as references to unknown inputs, are beyond a schema and beyond this check)."""
    data = read_yaml(str(path))
    try:
        PipelineModel.model_validate(data)
        loader_ok = True
    except ValidationError:
        loader_ok = False
    errors = [e.message for e in jsonschema.Draft202012Validator(pipeline_schema()).iter_errors(data)]
    assert (not errors) == loader_ok, errors
    if path.parent.name == "good" or "dags_examples" in path.parts:
        assert loader_ok


def test_examples_name_the_schema() -> None:
    for path in (REPO / "dags_examples" / "definitions").glob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == (PACKAGE / SHIPPED).resolve()


def test_airflow_cli_has_the_commands(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD.format(name="p"))
    (tmp_path / "s.py").write_text("")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "mlpipelines", "validate", str(tmp_path / "p.yaml")],
        env=env, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok   " in done.stdout
    (tmp_path / "p.yaml").write_text(GOOD.format(name="p").replace("script: s.py", "scrip: s.py"))
    done = subprocess.run(
        [str(airflow), "mlpipelines", "validate", str(tmp_path / "p.yaml")],
        env=env, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert done.returncode == 1
    assert "did you mean 'script'?" in done.stdout


USER_DEFINITION = """\
from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep, Workspace

ws = Workspace.from_config()
step = PythonScriptStep(script_name="train.py", name="train", sorce_directory="src")
pipeline = Pipeline(workspace=ws, steps=[step])
"""


def test_type_checkers_see_the_sdk_signatures(tmp_path: Path) -> None:
    """mypy on a user-style definition: the SDK names are the real classes; a misspelt keyword is an error."""
    path = tmp_path / "definition.py"
    path.write_text(USER_DEFINITION)
    # The package is installed in editable mode (an import hook mypy cannot follow): point it at the source.
    env = {**os.environ, "MYPYPATH": str(REPO)}
    command = [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(path)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=tmp_path, env=env, timeout=300
    )
    assert 'Unexpected keyword argument "sorce_directory" for "PythonScriptStep"' in done.stdout, done.stdout
    path.write_text(USER_DEFINITION.replace("sorce_directory", "source_directory"))
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=tmp_path, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout


def test_airflow_lists_the_provider_like_its_own(tmp_path: Path) -> None:
    """`airflow providers get` shows the integrations, operators, sensors, triggers, links, plugin, CLI."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "providers", "get", "airflow-mlpipelines", "--full", "--output", "json"],
        env=env, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout
    for expected in (
        "airflow_mlpipelines.operators.data_transfer",
        "airflow_mlpipelines.operators.reuse_sensor",
        "airflow_mlpipelines.triggers.lease",
        "airflow_mlpipelines.triggers.datastore_watch",
        "StepOutputsLink",
        "airflow_mlpipelines.cli_airflow.get_cli_commands",
        "how-to-guide",
    ):
        assert expected in text, expected
    from importlib.metadata import metadata

    meta = metadata("airflow-mlpipelines")
    assert "Framework :: Apache Airflow :: Provider" in meta.get_all("Classifier")
