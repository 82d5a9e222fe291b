"""``DatastoreWatchTrigger``: an asset watcher that fires for each new or changed file in a datastore folder.

A pipeline scheduled with ``schedule: {datastore: ..., path_on_datastore: ...}`` (Azure ML's datastore
schedule) gets an Airflow asset for the watched folder with an ``AssetWatcher`` running this trigger on
the triggerer. Every ``polling_seconds`` it lists the folder through the storage layer
(:class:`~airflow_mlpipelines.connections.AirflowStorage`: the triggerer's own connections; the datastore
root from ``[mlpipelines]``, read here at run time) and compares each file's stamp (size and the store's
content tag — S3 ``ETag``, GCS ``md5Hash`` — or, without one, its modification time) with what it has
seen. A new or changed file fires a ``TriggerEvent`` whose payload names it; Airflow turns the event into
an asset event (``extra.payload``) and starts a run of the pipeline, whose planner passes the path on as
the parameter named by ``data_path_parameter_name``.

- Only files directly in the folder count (not sub-folders, as in Azure ML), and not hidden (``.name``)
  files, which is where careful writers put a file before renaming it into place.
- A file fires once its stamp is the same on two polls in a row, so a file still being written to a
  local folder is not announced half-written.
- Files already there when a watch first starts are its baseline, not events.
- What has been seen is remembered in the datastore root (``_watches/<pipeline>/<key>.json``), so a
  restarted triggerer neither fires again for files it announced nor misses files that arrived while it
  was down. A fired file is written to that record one poll after its event was handed to the triggerer;
  a triggerer that dies within that window fires the file again when it restarts. Delivery is therefore
  at least once: a duplicate run is possible, a lost file is not (and a duplicate run of unchanged data
  is reused step by step).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.paths import datastore_url, join, safe_segment
from airflow_mlpipelines.pipeline.assets import WATCH_PAYLOAD_KEY
from airflow_mlpipelines.reuse.remote_digest import store_tag

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_mlpipelines.storage import Storage

WATCHES = "_watches"
STATE_VERSION = 1


def stamp(details: dict[str, Any]) -> str:
    """What identifies one version of a file in a listing: its size and content tag (or mtime)."""
    tag = store_tag(details)
    version = tag[1] if tag is not None else str(details.get("mtime") or details.get("LastModified") or "")
    return f"{int(details.get('size') or 0)}:{version}"


class Watch:
    """The watch of one folder, with its record of seen files (blocking storage calls; the trigger runs
    them off the event loop)."""

    def __init__(self, storage: Storage, folder_url: str, state_url: str) -> None:
        self.storage = storage
        self.folder = storage.resolve(folder_url)
        self.state = storage.resolve(state_url)
        self.seen: dict[str, str] | None = None
        self.pending: dict[str, str] = {}
        self.dirty = False

    def load(self) -> None:
        """Read the record of seen files (absent: this watch has never run)."""
        data = st.read_bytes(self.state)
        if data is None:
            self.seen = None
            return
        record = json.loads(data)
        self.seen = {str(k): str(v) for k, v in dict(record.get("seen", {})).items()}

    def look(self) -> list[tuple[str, str, dict[str, Any]]]:
        """One poll: ``(name, stamp, details)`` of each file to announce now."""
        listing = {n: d for n, d in st.files_in(self.folder).items() if not n.startswith(".")}
        stamps = {name: stamp(details) for name, details in listing.items()}
        if self.seen is None:  # the first start: what is there is the baseline
            self.seen = stamps
            self.save()
            return []
        fire = []
        for name in sorted(stamps):
            now = stamps[name]
            if self.seen.get(name) == now:
                self.pending.pop(name, None)
            elif self.pending.get(name) == now:
                fire.append((name, now, listing[name]))
            else:
                self.pending[name] = now  # seen once: announce when the next poll sees it unchanged
        for name in set(self.seen) - set(stamps):
            del self.seen[name]  # deleted: the same name written again is a new file
            self.dirty = True
        return fire

    def remember(self, fired: list[tuple[str, str]]) -> None:
        """Record announced files (``(name, stamp)``) and any deletions."""
        if self.seen is None:  # nothing was looked at yet
            return
        for name, now in fired:
            self.seen[name] = now
            self.pending.pop(name, None)
        if fired or self.dirty:
            self.save()

    def save(self) -> None:
        """Write the record atomically (readers see the old one or the new one)."""
        record = {"version": STATE_VERSION, "folder": self.folder.url, "seen": self.seen}
        st.write_bytes(self.state, json.dumps(record, sort_keys=True).encode())
        self.dirty = False

    def file_url(self, name: str) -> str:
        """The URL of a file in the watched folder (a local path on a local datastore)."""
        return self.folder.child(name).url


def state_url(root: str, pipeline: str, folder_url: str) -> str:
    """Where the record of a pipeline's watch of ``folder_url`` lives, below the datastore root."""
    key = hashlib.sha256(folder_url.encode()).hexdigest()[:16]
    return join(root, WATCHES, safe_segment(pipeline), f"{key}.json")


class DatastoreWatchTrigger(BaseEventTrigger):
    """Fire for each new or changed file directly in a datastore folder (see the module docstring).

    :param pipeline: The pipeline (DAG id) the watch starts runs of.
    :param datastore: The datastore's name.
    :param datastore_url: Its URL (None: ``<datastore_root>/<datastore>``, resolved on the triggerer).
    :param path_on_datastore: The folder on the datastore ("" for its root).
    :param polling_seconds: Seconds between polls.
    :param parameter: The pipeline parameter that gets the file's path (``data_path_parameter_name``).
    """

    def __init__(
        self,
        *,
        pipeline: str,
        datastore: str,
        datastore_url: str | None,
        path_on_datastore: str,
        polling_seconds: float,
        parameter: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.pipeline = pipeline
        self.datastore = datastore
        self.datastore_url = datastore_url
        self.path_on_datastore = path_on_datastore
        self.polling_seconds = polling_seconds
        self.parameter = parameter

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (fixed at parse time: Airflow identifies the watch by them)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pipeline": self.pipeline,
                "datastore": self.datastore,
                "datastore_url": self.datastore_url,
                "path_on_datastore": self.path_on_datastore,
                "polling_seconds": self.polling_seconds,
                "parameter": self.parameter,
            },
        )

    def folder_url(self, root: str) -> str:
        """The watched folder's URL under datastore root ``root``."""
        base = datastore_url(self.datastore, {self.datastore: self.datastore_url}, root)
        return join(base, self.path_on_datastore)

    def open_watch(self, storage: Storage | None = None, root: str | None = None) -> Watch:
        """The watch with its record loaded (blocking: settings, connections, one read)."""
        if root is None:
            from airflow_mlpipelines import settings

            root = settings.datastore_root()
        if storage is None:
            from airflow_mlpipelines.connections import AirflowStorage

            storage = AirflowStorage()
        folder = self.folder_url(root)
        watch = Watch(storage, folder, state_url(root, self.pipeline, folder))
        watch.load()
        return watch

    def payload(self, watch: Watch, name: str, now: str, details: dict[str, Any]) -> dict[str, Any]:
        """The event's payload: which file, where, and the parameter that gets its path."""
        return {
            WATCH_PAYLOAD_KEY: 1,
            "pipeline": self.pipeline,
            "datastore": self.datastore,
            "path_on_datastore": join(self.path_on_datastore, name) if self.path_on_datastore else name,
            "path": watch.file_url(name),
            "size": int(details.get("size") or 0),
            "stamp": now,
            "parameter": self.parameter,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; announce each new or changed file once (remembered one poll later)."""
        from asgiref.sync import sync_to_async

        # sync_to_async, not a bare thread: connection look-ups on the triggerer go back through its loop.
        watch = await sync_to_async(self.open_watch)()
        self.log.info(
            "watching %s every %.0fs for pipeline %s",
            watch.folder.where(),
            self.polling_seconds,
            self.pipeline,
        )
        announced: list[tuple[str, str]] = []
        while True:
            await sync_to_async(watch.remember)(announced)
            announced = []
            for name, now, details in await sync_to_async(watch.look)():
                self.log.info("new or changed file %s (%s)", watch.file_url(name), now)
                yield TriggerEvent(self.payload(watch, name, now, details))  # type: ignore[no-untyped-call]
                announced.append((name, now))
            await asyncio.sleep(self.polling_seconds)
