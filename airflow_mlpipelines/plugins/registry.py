"""Published pipelines, endpoints and schedules kept as Airflow Variables, on the API server.

Variables live in the metadata database, which the API server, the scheduler and the DAG processor all
reach in a distributed deployment (no shared disk), and the DAG processor may read them while it parses
(the DAG factory reads a schedule record there, :mod:`airflow_mlpipelines.dag_factory.overrides`).
Each record is one Variable with a description saying what manages it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from airflow.models.variable import Variable
from sqlalchemy import select

from airflow_mlpipelines.pipeline.publishing import (
    ENDPOINT_PREFIX,
    PUBLISHED_PREFIX,
    SCHEDULE_PREFIX,
    EndpointRecord,
    PublishedRecord,
    ScheduleRecord,
    endpoint_key,
    published_key,
    schedule_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

R = TypeVar("R", PublishedRecord, EndpointRecord, ScheduleRecord)

DESCRIPTION = "managed by airflow-mlpipelines ({what}); change it through its page or SDK, not here"


def _read(session: Session, key: str, parse: Callable[[str], R], for_update: bool = False) -> R | None:
    """One record; ``for_update`` locks its row until the transaction ends (PostgreSQL, MySQL; SQLite
    serializes writers anyway), so a read-change-write of a record never loses a concurrent change."""
    query = select(Variable).where(Variable.key == key)
    row = session.scalar(query.with_for_update() if for_update else query)
    return None if row is None or row.val is None else parse(row.val)


def _list(session: Session, prefix: str, parse: Callable[[str], R]) -> list[R]:
    like = prefix.replace("_", r"\_").replace("%", r"\%") + "%"
    rows = session.scalars(
        select(Variable).where(Variable.key.like(like, escape="\\")).order_by(Variable.key)
    )
    return [parse(row.val) for row in rows if row.val is not None]


def _write(session: Session, key: str, value: str, what: str) -> None:
    Variable.set(key, value, description=DESCRIPTION.format(what=what), session=session)


def published(session: Session, pipeline_id: str, for_update: bool = False) -> PublishedRecord | None:
    """The published pipeline ``pipeline_id`` (None: no such)."""
    return _read(session, published_key(pipeline_id), PublishedRecord.from_json, for_update)


def all_published(session: Session) -> list[PublishedRecord]:
    """Every published pipeline."""
    return _list(session, PUBLISHED_PREFIX, PublishedRecord.from_json)


def save_published(session: Session, record: PublishedRecord) -> None:
    """Create or replace a published pipeline."""
    _write(session, published_key(record.id), record.to_json(), f"published pipeline {record.name}")


def endpoint(session: Session, name: str, for_update: bool = False) -> EndpointRecord | None:
    """The pipeline endpoint ``name`` (None: no such)."""
    return _read(session, endpoint_key(name), EndpointRecord.from_json, for_update)


def all_endpoints(session: Session) -> list[EndpointRecord]:
    """Every pipeline endpoint."""
    return _list(session, ENDPOINT_PREFIX, EndpointRecord.from_json)


def save_endpoint(session: Session, record: EndpointRecord) -> None:
    """Create or replace a pipeline endpoint."""
    _write(session, endpoint_key(record.name), record.to_json(), f"pipeline endpoint {record.name}")


def schedule(session: Session, dag_id: str, for_update: bool = False) -> ScheduleRecord | None:
    """The schedule set for ``dag_id`` outside its definition (None: the definition's own)."""
    return _read(session, schedule_key(dag_id), ScheduleRecord.from_json, for_update)


def all_schedules(session: Session) -> list[ScheduleRecord]:
    """Every schedule set outside a definition."""
    return _list(session, SCHEDULE_PREFIX, ScheduleRecord.from_json)


def save_schedule(session: Session, record: ScheduleRecord) -> None:
    """Create or replace the schedule of ``record.dag_id``."""
    _write(session, schedule_key(record.dag_id), record.to_json(), f"schedule of {record.dag_id}")
