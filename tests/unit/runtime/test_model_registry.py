"""The model registry on a local datastore: versions, tags and properties, downloads checked by digest,
version numbers claimed exactly once under concurrent registration (processes), and clear errors."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import ModelError, ModelNotFoundError
from airflow_mlpipelines.runtime import sdk_model
from airflow_mlpipelines.runtime.models import ModelRegistry
from airflow_mlpipelines.runtime.run_context import Run, RunError
from airflow_mlpipelines.runtime.sdk_model import Model
from airflow_mlpipelines.storage import FsspecStorage


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    root = tmp_path / "registry"
    monkeypatch.setenv("MLP_MODEL_REGISTRY", str(root))
    return ModelRegistry(FsspecStorage(), str(root))


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


class TestRegistry:
    def test_versions_tags_properties_and_latest(self, registry: ModelRegistry, tmp_path: Path) -> None:
        first = Model.register(None, _file(tmp_path, "m.pkl", "a"), "clf", tags={"stage": "dev"})
        second = Model.register(
            None, _file(tmp_path, "m.pkl", "bb"), "clf", tags={"stage": "prod"}, properties={"auc": 0.91}
        )
        assert (first.version, second.version) == (1, 2)
        assert Model(None, "clf").version == 2
        assert Model(None, "clf", version=1).tags == {"stage": "dev"}
        assert Model(None, id="clf:2").properties == {"auc": "0.91"}
        assert Model(None, "clf", tags=[["stage", "dev"]]).version == 1  # latest matching
        assert [m.id for m in Model.list(None)] == ["clf:2", "clf:1"]
        assert [m.id for m in Model.list(None, tags=["stage"], latest=True)] == ["clf:2"]
        assert [m.id for m in Model.list(None, properties={"auc": "0.91"})] == ["clf:2"]
        assert first.digest != second.digest
        record = json.loads((Path(registry.root) / "clf" / "2" / "model.json").read_text())
        assert record["files"] == [{"path": "m.pkl", "size": 2, "sha256": record["files"][0]["sha256"]}]
        assert record["created_time"].endswith("+00:00")

    def test_a_folder_and_child_paths(self, registry: ModelRegistry, tmp_path: Path) -> None:
        folder = tmp_path / "model"
        (folder / "sub").mkdir(parents=True)
        (folder / "weights.bin").write_bytes(b"w")
        (folder / "sub" / "vocab.txt").write_text("v")
        (folder / "notes.md").write_text("n")
        whole = Model.register(None, str(folder), "bert")
        assert sorted(f["path"] for f in registry.get("bert").files) == [
            "model/notes.md",
            "model/sub/vocab.txt",
            "model/weights.bin",
        ]
        some = Model.register(None, str(folder), "bert", child_paths=["weights.bin", "sub/vocab.txt"])
        assert some.version == 2
        path = Path(Model.get_model_path("bert"))
        assert path.name == "model"
        assert sorted(p.name for p in path.rglob("*") if p.is_file()) == [
            "vocab.txt",
            "weights.bin",
        ]
        target = tmp_path / "dl"
        assert Path(whole.download(str(target))).joinpath("notes.md").read_text() == "n"
        with pytest.raises(ModelError, match="exists already"):
            whole.download(str(target))

    def test_a_version_without_model_json_is_invisible_and_its_number_is_not_reused(
        self, registry: ModelRegistry, tmp_path: Path
    ) -> None:
        Model.register(None, _file(tmp_path, "m", "1"), "half")
        crashed = Path(registry.root) / "half" / "2"
        (crashed / "files").mkdir(parents=True)
        (crashed / "claim.json").write_text("{}")
        (crashed / "files" / "m").write_text("partial")
        assert Model(None, "half").version == 1
        assert Model.register(None, _file(tmp_path, "m", "3"), "half").version == 3
        with pytest.raises(ModelNotFoundError, match=r"version 2 .*its versions: 1, 3"):
            Model(None, "half", version=2)

    def test_corrupt_files_are_refused(self, registry: ModelRegistry, tmp_path: Path) -> None:
        model = Model.register(None, _file(tmp_path, "m.pkl", "good"), "bad")
        stored = Path(registry.root) / "bad" / "1" / "files" / "m.pkl"
        stored.write_text("evil")  # same size, other bytes
        with pytest.raises(ModelError, match="does not match its recorded SHA-256"):
            model.download(str(tmp_path / "out"))
        assert not (tmp_path / "out" / "m.pkl").exists()
        stored.write_text("truncated!")
        with pytest.raises(ModelError, match="missing or of the wrong size"):
            Model.get_model_path("bad")

    def test_errors_name_what_exists(self, registry: ModelRegistry, tmp_path: Path) -> None:
        with pytest.raises(ModelNotFoundError, match="no model is registered there"):
            Model(None, "nothing")
        Model.register(None, _file(tmp_path, "m", "x"), "present")
        with pytest.raises(ModelNotFoundError, match="registered models: present"):
            Model.get_model_path("absent")
        with pytest.raises(ModelError, match="invalid model name"):
            Model.register(None, _file(tmp_path, "m", "x"), "../escape")
        with pytest.raises(ModelError, match="does not exist"):
            Model.register(None, str(tmp_path / "missing.pkl"), "present")
        with pytest.raises(ModelError, match="'name:version'"):
            Model(None, id="present")

    def test_a_store_without_conditional_writes_cannot_hold_a_registry(self, tmp_path: Path) -> None:
        memory = ModelRegistry(FsspecStorage(), "memory://models-test")
        with pytest.raises(ModelError, match=r"cannot allocate versions.*no conditional writes"):
            memory.register("clf", _file(tmp_path, "m", "x"))

    def test_no_registry_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("MLP_MODEL_REGISTRY", raising=False)
        monkeypatch.setattr(sdk_model, "_fallback", None)
        with pytest.raises(ModelError, match="no model registry"):
            Model(None, "clf")


class _StaleListing(ModelRegistry):
    """Every racer sees the listing from before anyone registered (the widest race there is)."""

    def _numbers(self, name: str) -> list[int]:
        return []


def _register(root: str, source: str, start: Any, queue: multiprocessing.Queue[int]) -> None:
    start.wait(30)
    queue.put(_StaleListing(FsspecStorage(), root).register("race", source).version)


def test_concurrent_registrations_never_share_a_version(tmp_path: Path) -> None:
    root = str(tmp_path / "registry")
    sources = []
    for i in range(8):
        sources.append(_file(tmp_path, f"m{i}", f"model {i}" * (i + 1)))
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[int] = context.Queue()
    start = context.Event()
    workers = [context.Process(target=_register, args=(root, s, start, queue)) for s in sources]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    versions = sorted(queue.get(timeout=5) for _ in workers)
    assert versions == list(range(1, 9))
    registry = ModelRegistry(FsspecStorage(), root)
    # Every version holds exactly the file its registration wrote (nothing mixed or lost).
    texts = {Path(registry.local_path(m)).read_text() for m in registry.versions("race")}
    assert texts == {Path(s).read_text() for s in sources}


class TestRunRegisterModel:
    def test_from_a_step_the_model_path_is_among_the_run_files(
        self, registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        record = tmp_path / "record"
        (record / "files" / "outputs").mkdir(parents=True)
        (record / "files" / "outputs" / "model.pkl").write_text("uploaded")
        context = {
            "id": "p_run_train_1",
            "step": "train",
            "pipeline": "p",
            "record": str(record),
            "parent": {"dag_id": "p", "run_id": "manual__1"},
            "models": registry.root,
        }
        path = tmp_path / "ctx.json"
        path.write_text(json.dumps(context))
        monkeypatch.setenv("MLP_RUN_CONTEXT", str(path))
        monkeypatch.chdir(tmp_path)
        run = Run.get_context()
        model = run.register_model("clf", "outputs/model.pkl", tags={"lr": 0.1})
        assert (model.version, model.run_id, model.tags) == (1, "p_run_train_1", {"lr": "0.1"})
        assert Path(Model.get_model_path("clf")).read_text() == "uploaded"
        (tmp_path / "outputs").mkdir()
        (tmp_path / "outputs" / "other.pkl").write_text("in cwd")  # SDK v1's ./outputs
        assert run.register_model("other", "outputs/other.pkl").version == 1
        lines = [json.loads(x) for x in (record / "models.jsonl").read_text().splitlines()]
        assert [(e["name"], e["version"]) for e in lines] == [("clf", 1), ("other", 1)]
        assert lines[0]["record"]["run"]["run_id"] == "manual__1"
        with pytest.raises(RunError, match=r"no model at .outputs/none\.pkl."):
            run.register_model("clf", "outputs/none.pkl")

    def test_offline_it_registers_like_a_notebook(
        self, registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("MLP_RUN_CONTEXT", raising=False)
        monkeypatch.chdir(tmp_path)
        _file(tmp_path, "clf", "by hand")
        model = Run.get_context().register_model("clf")  # model_path defaults to the name
        assert model.version == 1
        assert model.run_id is None
        assert os.path.basename(model.url) == "clf"


CONTAINER_SCRIPT = """\
import os, sys
from airflow_mlpipelines.core import Model, Run
out = sys.argv[2]
open(os.path.join(out, "model.bin"), "w").write("from the container")
model = Run.get_context().register_model("boxed", os.path.join(out, "model.bin"), tags={"where": "pod"})
print("registered", model.id, open(Model.get_model_path("boxed")).read())
"""


def test_a_container_step_registers_through_the_plan(tmp_path: Path) -> None:
    """The container entrypoint (no Airflow) hands the script the plan's registry."""
    import subprocess
    import sys

    from tests.unit.runtime.test_step_main import _plan

    (tmp_path / "in").mkdir()
    root = tmp_path / "registry"
    plan = _plan(tmp_path, {"data": str(tmp_path / "in")}, {"result": str(tmp_path / "out")})
    plan["models"] = str(root)
    (tmp_path / "src" / "s.py").write_text(CONTAINER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(plan)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registered boxed:1 from the container" in done.stdout
    model = ModelRegistry(FsspecStorage(), str(root)).get("boxed")
    assert model.tags == {"where": "pod"}
    assert model.run is not None
    assert (model.run["dag_id"], model.run["run_id"], model.run["step"]) == ("p", "r1", "s")
