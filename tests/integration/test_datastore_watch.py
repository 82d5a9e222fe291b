"""``DatastoreWatchTrigger`` polling a real local folder and S3 on moto's server (an Airflow ``aws``
connection, resolved by ``AirflowStorage`` as on the triggerer): new files fire, unchanged ones do not,
changed ones fire again, and a restarted watch neither fires twice nor misses what came meanwhile."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_mlpipelines import settings
from airflow_mlpipelines.pipeline.assets import WATCH_PAYLOAD_KEY
from airflow_mlpipelines.triggers.datastore_watch import DatastoreWatchTrigger, Watch
from tests.deploy.servers import MotoServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration

BUCKET = "mlp-watch"
CONN = "mlp_watch_s3"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def s3_connection(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = moto.airflow_connection()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(connection))


def _trigger(url: str | None, path: str = "incoming") -> DatastoreWatchTrigger:
    return DatastoreWatchTrigger(
        pipeline="watched",
        datastore="raw",
        datastore_url=url,
        path_on_datastore=path,
        polling_seconds=0.01,
        parameter="data",
    )


def _poll(trigger: DatastoreWatchTrigger, root: str, watch: Watch | None = None) -> tuple[Watch, list[str]]:
    """Two polls (a file must look the same twice), announcing and remembering what fired."""
    watch = watch or trigger.open_watch(root=root)
    fired = [*watch.look(), *watch.look()]
    watch.remember([(name, stamp) for name, stamp, _ in fired])
    return watch, [name for name, _, _ in fired]


def _scenario(trigger: DatastoreWatchTrigger, root: str, write: Callable[[str, bytes], None]) -> None:
    write("before.csv", b"there before the watch\n")
    watch, fired = _poll(trigger, root)
    assert fired == [], "what is there when a watch first starts is its baseline"

    write("a.csv", b"1,2\n")
    assert watch.look() == [], "a file seen once may still be being written"
    (name, stamp, details), *rest = watch.look()
    assert (name, rest) == ("a.csv", [])
    payload = trigger.payload(watch, name, stamp, details)
    assert payload[WATCH_PAYLOAD_KEY] == 1
    assert payload["parameter"] == "data"
    assert payload["path_on_datastore"] == "incoming/a.csv"
    assert payload["path"] == watch.file_url("a.csv")
    assert payload["size"] == 4
    watch.remember([(name, stamp)])

    assert _poll(trigger, root, watch)[1] == [], "unchanged files do not fire"
    write("a.csv", b"1,2\n3,4\n")
    assert _poll(trigger, root, watch)[1] == ["a.csv"], "a changed file fires again"

    # A new watch object is a restarted triggerer: it reads the record, so nothing fires twice...
    assert _poll(trigger, root)[1] == []
    # ...and a file written while it was down is announced once it is up again.
    write("b.csv", b"new\n")
    write(".hidden.part", b"being written\n")
    assert _poll(trigger, root)[1] == ["b.csv"]
    assert _poll(trigger, root)[1] == []


def test_a_local_folder(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "incoming" / "sub").mkdir(parents=True)
    (raw / "incoming" / "sub" / "ignored.csv").write_text("sub-folders are not watched\n")

    def write(name: str, data: bytes) -> None:
        (raw / "incoming" / name).write_bytes(data)

    _scenario(_trigger(str(raw)), str(tmp_path / "root"), write)
    (record,) = (tmp_path / "root" / "_watches" / "watched").glob("*.json")
    assert set(json.loads(record.read_text())["seen"]) == {"before.csv", "a.csv", "b.csv"}


@pytest.mark.usefixtures("airflow_db", "s3_connection")
def test_s3_on_moto_through_an_airflow_connection(moto: MotoServer, tmp_path: Path) -> None:
    fs = moto.filesystem()

    def write(name: str, data: bytes) -> None:
        fs.pipe_file(f"{BUCKET}/data/incoming/{name}", data)

    # The datastore has a URL on S3; the record lives under an S3 datastore root too.
    root = f"s3://{CONN}@{BUCKET}/root"
    _scenario(_trigger(f"s3://{CONN}@{BUCKET}/data"), root, write)
    assert fs.ls(f"{BUCKET}/root/_watches/watched")


def test_a_datastore_without_url_lives_under_the_root(tmp_path: Path) -> None:
    watch = _trigger(None).open_watch(root=str(tmp_path))
    assert watch.folder.url == f"{tmp_path}/raw/incoming"


def test_run_yields_one_event_per_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger's own loop, as the triggerer drives it."""
    raw = tmp_path / "raw"
    (raw / "incoming").mkdir(parents=True)
    trigger = _trigger(str(raw))
    # On the triggerer the root comes from [mlpipelines] (read at run time, never at parse time).
    monkeypatch.setattr(settings, "datastore_root", lambda: str(tmp_path / "root"))

    async def first_event() -> Any:
        runner = trigger.run()
        task = asyncio.ensure_future(runner.__anext__())
        await asyncio.sleep(0.2)  # the baseline is taken
        (raw / "incoming" / "x.csv").write_text("x\n")
        event = await asyncio.wait_for(task, timeout=10)
        await runner.aclose()
        return event

    event = asyncio.run(first_event())
    assert event.payload["path"] == f"{raw}/incoming/x.csv"
    assert event.payload["parameter"] == "data"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlpipelines.triggers.datastore_watch.DatastoreWatchTrigger"
    assert DatastoreWatchTrigger(**kwargs).serialize() == (classpath, kwargs)
