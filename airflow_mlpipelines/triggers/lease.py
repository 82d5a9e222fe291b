"""``LeaseTrigger``: wait on the triggerer while another run computes the same step (no worker slot).

The reuse sensor defers to this trigger when another run holds the step's in-flight lease, the way
Airflow's ``FileSensor`` hands its wait to ``FileTrigger``. The trigger looks every ``poke_seconds``
(storage calls run in a thread, off the triggerer's event loop) and fires when:

- a manifest with the step's fingerprint has been committed (``committed``: the sensor reuses it);
- the lease was released or expired (``free``: the holder failed or crashed; the sensor takes it);
- the wait outlasted ``timeout_seconds`` (``timeout``, naming the holder).

The storage options of the lease's connection are exported on the worker and passed in (trigger
kwargs are encrypted at rest by Airflow), so the triggerer needs no access to the connection itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LOG_EVERY_SECONDS = 60.0


class LeaseTrigger(BaseTrigger):
    """Fire when the lease at ``lease_url`` is free or a manifest for ``fingerprint`` is at ``manifest_url``.

    :param lease_url: Folder URL of the step's lease (and manifest).
    :param fingerprint: Digest the committed manifest must carry.
    :param step: The step's name (for log lines).
    :param poke_seconds: How often to look.
    :param timeout_seconds: Give up after this long (fires ``timeout``).
    :param connections: Storage options per connection id of the lease's URL (see module docstring).
    """

    def __init__(
        self,
        *,
        lease_url: str,
        fingerprint: str,
        step: str,
        poke_seconds: float,
        timeout_seconds: float,
        connections: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.lease_url = lease_url
        self.fingerprint = fingerprint
        self.step = step
        self.poke_seconds = poke_seconds
        self.timeout_seconds = timeout_seconds
        self.connections = connections or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (stored by Airflow, encrypted)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "lease_url": self.lease_url,
                "fingerprint": self.fingerprint,
                "step": self.step,
                "poke_seconds": self.poke_seconds,
                "timeout_seconds": self.timeout_seconds,
                "connections": self.connections,
            },
        )

    def check(self) -> tuple[dict[str, Any] | None, str]:
        """One look (blocking storage calls): the event to fire (None: keep waiting), and the holder."""
        from airflow_mlpipelines.reuse import lease, store
        from airflow_mlpipelines.storage import FsspecStorage

        storage = FsspecStorage(self.connections)
        manifest = store.read_manifest(self.lease_url, storage)
        if manifest is not None and manifest.get("fingerprint", {}).get("digest") == self.fingerprint:
            return {"status": "committed", "by": manifest.get("produced_by", {})}, ""
        held = lease.read(storage.resolve(self.lease_url))
        if held is None or held.expires_at <= time.time():
            return {"status": "free", "holder": held.holder if held else None}, ""
        return None, held.holder

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poke_seconds`` until committed, free or timed out; log once a minute."""
        started = time.monotonic()
        logged = 0.0
        while True:
            event, holder = await asyncio.to_thread(self.check)
            if event is not None:
                yield TriggerEvent(event)  # type: ignore[no-untyped-call]
                return
            waited = time.monotonic() - started
            if waited >= self.timeout_seconds:
                yield TriggerEvent({"status": "timeout", "holder": holder, "waited": waited})  # type: ignore[no-untyped-call]
                return
            if waited - logged >= LOG_EVERY_SECONDS:
                logged = waited
                self.log.info(
                    "still waiting for step %s: run %s holds its lease (%.0fs so far)",
                    self.step,
                    holder,
                    waited,
                )
            await asyncio.sleep(self.poke_seconds)
