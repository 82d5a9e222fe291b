"""Step kind ``data_transfer`` (Azure ML SDK v1's DataTransferStep): files and SQL tables between datastores.

Four routes, one kind: files → files (streamed between filesystems, hashed on the way), SQL → a file
(Parquet by default, CSV on request, written batch by batch), files → a SQL table (appended in one
transaction, columns matched by name) and SQL → SQL. The kind moves data itself (``stages_data`` is
False: the runner neither downloads its source nor gives it an output folder) and hands the runner the
description of what it wrote, which the runner commits with the manifest written last.

Reuse: a file source is the step's input, fingerprinted by content like any input. A SQL source's state
cannot be known from its query text; without a ``reuse_query`` the run's id is a component (it re-runs
every time), with one the query's result is (a max timestamp, a row count, a version).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.digests import file_digest
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.frames import transfer as tf
from airflow_mlpipelines.frames.tables import DATA_FILE, table_files
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import digest_of
from airflow_mlpipelines.runtime import transfer_files as files

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import DataTransferSpec, TransferEndpoint
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.kinds import PlanContext
    from airflow_mlpipelines.runtime.runner import Job


class Database(Protocol):
    """One SQL datastore, open for a transfer (``airflow_mlpipelines.databases.SqlDatabase`` on workers)."""

    conn_id: str
    dialect: str

    @property
    def arrow_native(self) -> bool:
        """Whether batches come from an Arrow-native driver."""
        ...

    def source_query(self, *, table: str | None, query: str | None, procedure: str | None) -> str:
        """The statement that reads a source."""
        ...

    def read(self, statement: str, batch_rows: int) -> tuple[Any, Any]:
        """(record batch reader, what to close afterwards)."""
        ...

    def scalar(self, statement: str) -> list[Any]:
        """The first row of a statement."""
        ...

    def columns(self, table: str) -> list[str]:
        """A table's column names; an error naming it when it does not exist."""
        ...

    def append(self, table: str, reader: Any, progress: tf.RowProgress) -> int:
        """Append rows in one transaction."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class Databases(Protocol):
    """Opens SQL datastores by connection id."""

    def open(self, conn_id: str) -> Database:
        """The database behind an Airflow connection id."""
        ...


def _spec(task: StepTask) -> DataTransferSpec:
    if task.transfer is None:
        raise StepExecutionError(f"step '{task.step}' is not a data transfer")
    return task.transfer


def _where(task: StepTask, field: str) -> str:
    at = f"{task.location}: " if task.location is not None else ""
    return f"{at}step '{task.step}', {field}"


def connection_of(task: StepTask, end: TransferEndpoint, side: str) -> str:
    """The Airflow connection id of a SQL endpoint's datastore."""
    for store_spec in task.datastores:
        if store_spec.name == end.datastore and store_spec.connection:
            return store_spec.connection
    raise StepExecutionError(f"{_where(task, side + '.datastore')}: '{end.datastore}' is not a SQL datastore")


def _open(databases: Databases, task: StepTask, end: TransferEndpoint, side: str) -> Database:
    """The SQL datastore of one end; a connection that is missing or no database names the step and field."""
    try:
        return databases.open(connection_of(task, end, side))
    except StepExecutionError as exc:
        raise StepExecutionError(f"{_where(task, side + '.datastore')}: {exc}") from None


def _field(end: TransferEndpoint, side: str) -> str:
    for name in ("sql_table", "sql_query", "sql_stored_procedure"):
        if getattr(end, name) is not None:
            return f"{side}.{name}"
    return f"{side}.path"


class DataTransferKind:
    """Moves data between datastores; nothing of the user's runs (no script, no source tree)."""

    name = "data_transfer"
    hashes_source_tree = False
    stages_data = False

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """``transfer`` (both endpoints and the format) and, for a SQL source, ``sql_source``."""
        spec = _spec(task)
        described = {
            "source": vars(spec.source),
            "destination": vars(spec.destination),
            "format": spec.format,
        }
        components = {"transfer": digest_of(described)}
        details: dict[str, Any] = {"transfer": described}
        if not spec.source.is_sql:
            context.say(f"step {task.step}: the file source is fingerprinted by its content")
            return components, details
        if spec.reuse_query is None:
            components["sql_source"] = digest_of({"run": context.run_id})
            details["sql_source"] = "no reuse_query: a SQL source re-runs on every run"
            context.say(
                f"step {task.step}: the SQL source has no reuse_query, so the transfer runs on every run "
                "(a query's text cannot tell whether its data changed; set reuse_query to a query whose "
                "result changes with the data, e.g. SELECT max(updated_at) FROM ...)"
            )
            return components, details
        if context.databases is None:
            raise StepExecutionError(f"{_where(task, 'reuse_query')}: no SQL datastores here")
        db = _open(context.databases, task, spec.source, "source")
        try:
            value = db.scalar(spec.reuse_query)
        except StepExecutionError as exc:
            raise StepExecutionError(f"{_where(task, 'reuse_query')}: {exc}") from None
        finally:
            db.close()
        components["sql_source"] = digest_of({"reuse_query": spec.reuse_query, "result": value})
        details["sql_source"] = {"reuse_query": spec.reuse_query, "result": value}
        context.say(f"step {task.step}: the SQL source's state is the reuse_query result {value!r}")
        return components, details

    def execute(self, job: Job) -> None:
        """Move the data; fill ``job.described`` (what the manifest records) and ``job.result``."""
        task = job.plan.task
        spec = _spec(task)
        if spec.source.is_sql:
            self._from_sql(job, spec)
        elif spec.destination.is_sql:
            self._files_to_sql(job, spec)
        else:
            self._files_to_files(job, spec)

    # -- files → files ----------------------------------------------------------------------------
    def _files_to_files(self, job: Job, spec: DataTransferSpec) -> None:
        task, storage = job.plan.task, _storage(job)
        assert spec.source_input is not None  # noqa: S101
        assert spec.destination_output is not None  # noqa: S101
        src = storage.resolve(job.inputs[spec.source_input])
        dst_url = job.plan.outputs[spec.destination_output]
        dst = storage.resolve(dst_url)
        source_is_dir = files.is_directory(src)
        if source_is_dir is None:
            raise StepExecutionError(f"{_where(task, 'source')}: {src.where()} does not exist")
        source_type = spec.source.reference_type or ("directory" if source_is_dir else "file")
        if source_type == "file" and source_is_dir:
            raise StepExecutionError(f"{_where(task, 'source.type')}: {src.where()} is a folder, not a file")
        if source_type == "directory" and not source_is_dir:
            raise StepExecutionError(f"{_where(task, 'source.type')}: {src.where()} is a file, not a folder")
        fixed = _fixed(task, spec)
        dest_type = "directory"
        if fixed:
            existing = files.is_directory(dst)
            dest_type = spec.destination.reference_type or (
                {True: "directory", False: "file"}[existing] if existing is not None else source_type
            )
        if dest_type == "file" and source_type == "directory":
            raise StepExecutionError(
                f"{_where(task, 'destination.type')}: a folder ({src.where()}) cannot be copied to the one "
                f"file {dst.where()}"
            )
        if not fixed:
            st.remove(dst)  # what an earlier try of this run left in its fresh folder
        listed = files.source_files(src)
        job.io.say(f"copying {len(listed)} file(s) from {src.url} to {dst.url}")
        copied = files.copy_files(
            listed, dst, as_file=dest_type == "file", say=job.io.say, what=f"copied to {dst.url}"
        )
        job.described = {spec.destination_output: _described(dst, copied, single=dest_type == "file")}
        job.result = {"files": len(copied), "bytes": sum(c.size for c in copied)}

    # -- SQL → files / SQL ------------------------------------------------------------------------
    def _from_sql(self, job: Job, spec: DataTransferSpec) -> None:
        task = job.plan.task
        if job.databases is None:
            raise StepExecutionError(f"{_where(task, 'source')}: SQL datastores are not reachable here")
        db = _open(job.databases, task, spec.source, "source")
        try:
            statement = db.source_query(
                table=spec.source.sql_table,
                query=spec.source.sql_query,
                procedure=spec.source.sql_stored_procedure,
            )
            driver = "ADBC (Arrow-native)" if db.arrow_native else "the DB-API cursor"
            job.io.say(f"reading {db.dialect} connection '{db.conn_id}' through {driver}: {statement}")
            try:
                reader, closing = db.read(statement, spec.batch_rows)
            except StepExecutionError as exc:
                raise StepExecutionError(f"{_where(task, _field(spec.source, 'source'))}: {exc}") from None
            try:
                if spec.destination.is_sql:
                    self._into_table(job, spec, reader)
                else:
                    self._sql_to_file(job, spec, reader)
            finally:
                closing.close()
        finally:
            db.close()

    def _sql_to_file(self, job: Job, spec: DataTransferSpec, reader: Any) -> None:
        task, storage = job.plan.task, _storage(job)
        assert spec.destination_output is not None  # noqa: S101
        dst = storage.resolve(job.plan.outputs[spec.destination_output])
        fixed = _fixed(task, spec)
        suffix = ".csv" if spec.format == "csv" else ".parquet"
        single = False
        if fixed:
            # SDK v1: the type given, else the existing path's, else a file when the name has a suffix.
            existing = files.is_directory(dst)
            named = spec.destination.reference_type or (
                {True: "directory", False: "file"}[existing]
                if existing is not None
                else ("file" if os.path.splitext(dst.path)[1] else "directory")
            )
            single = named == "file"
        else:
            st.remove(dst)  # what an earlier try of this run left in its fresh folder
        target = dst if single else dst.child(DATA_FILE if suffix == ".parquet" else "data.csv")
        local = os.path.join(job.work, f"transfer{suffix}")
        progress = tf.RowProgress(f"written to {target.url}", job.io.say)
        try:
            rows = tf.write_file(reader, local, spec.format, progress)
        except tf.FrameError as exc:
            raise StepExecutionError(f"{_where(task, _field(spec.source, 'source'))}: {exc}") from None
        except OSError as exc:
            raise StepExecutionError(f"{_where(task, 'destination')}: cannot write {local}: {exc}") from None
        except Exception as exc:  # a driver error while batches stream
            raise StepExecutionError(
                f"{_where(task, _field(spec.source, 'source'))}: reading failed: {exc}"
            ) from None
        progress.done()
        copied = [files.Copied(files.posix_basename(target.path), os.path.getsize(local), file_digest(local))]
        files.place_file(local, target, job.io.say)
        job.described = {
            spec.destination_output: _described(target if single else dst, copied, single=single)
        }
        job.result = {"rows": rows, "bytes": copied[0].size}

    # -- files → SQL ------------------------------------------------------------------------------
    def _files_to_sql(self, job: Job, spec: DataTransferSpec) -> None:
        task, storage = job.plan.task, _storage(job)
        if job.databases is None:
            raise StepExecutionError(f"{_where(task, 'destination')}: SQL datastores are not reachable here")
        assert spec.source_input is not None  # noqa: S101
        src = storage.resolve(job.inputs[spec.source_input])
        local = (
            src.path
            if src.local
            else st.download(
                src, os.path.join(job.work, "source", files.posix_basename(src.path)), job.io.say
            )
        )
        try:
            paths = table_files(local)
        except tf.FrameError as exc:
            raise StepExecutionError(f"{_where(task, 'source')}: {exc}") from None
        if not paths:
            raise StepExecutionError(f"{_where(task, 'source')}: {src.where()} holds no CSV or Parquet file")
        try:
            reader = tf.files_batches(paths, spec.batch_rows)
        except (tf.FrameError, OSError, ValueError) as exc:
            raise StepExecutionError(f"{_where(task, 'source')}: cannot read {src.where()}: {exc}") from None
        self._into_table(job, spec, reader)

    def _into_table(self, job: Job, spec: DataTransferSpec, reader: Any) -> None:
        task = job.plan.task
        assert job.databases is not None  # noqa: S101
        table = str(spec.destination.sql_table)
        db = _open(job.databases, task, spec.destination, "destination")
        try:
            try:
                expected = db.columns(table)
            except StepExecutionError as exc:
                raise StepExecutionError(
                    f"{_where(task, 'destination.sql_table')}: table {table} cannot be read (does it "
                    f"exist?): {exc}"
                ) from None
            given = list(reader.schema.names)
            if sorted(c.lower() for c in given) != sorted(c.lower() for c in expected):
                missing = [c for c in expected if c.lower() not in {g.lower() for g in given}]
                extra = [c for c in given if c.lower() not in {e.lower() for e in expected}]
                raise StepExecutionError(
                    f"{_where(task, 'destination.sql_table')}: the source's columns {given} do not match "
                    f"table {table}'s columns {expected}"
                    + (f"; missing: {missing}" if missing else "")
                    + (f"; not in the table: {extra}" if extra else "")
                    + " (nothing was loaded)"
                )
            progress = tf.RowProgress(f"loaded into {table}", job.io.say)
            try:
                rows = db.append(table, reader, progress)
            except (StepExecutionError, tf.FrameError) as exc:
                raise StepExecutionError(f"{_where(task, 'destination.sql_table')}: {exc}") from None
            progress.done()
        finally:
            db.close()
        job.described = {}
        job.result = {"rows": rows, "table": table}


def _storage(job: Job) -> st.Storage:
    if job.storage is None:
        raise StepExecutionError(f"step '{job.plan.step}': the runner handed no storage")
    return job.storage


def _fixed(task: StepTask, spec: DataTransferSpec) -> bool:
    return any(o.name == spec.destination_output and o.path is not None for o in task.outputs)


def _described(dst: st.Location, copied: list[files.Copied], *, single: bool) -> dict[str, Any]:
    """The manifest's entry for the destination: every file (size, SHA-256, the store's stamps), its
    digest; a single-file destination says so (its URL is the file, its entry's path the file's name)."""
    entries: list[dict[str, Any]] = [{"path": c.path, "size": c.size, "sha256": c.sha256} for c in copied]
    base = dst.parent() if single else dst
    if base.local:
        for entry in entries:
            stat = os.stat(os.path.join(base.path, *str(entry["path"]).split("/")))
            entry["mtime_ns"], entry["ctime_ns"] = stat.st_mtime_ns, stat.st_ctime_ns
    described: dict[str, Any] = {"files": entries, "digest": store.output_digest(entries)}
    if not base.local:
        listed = {entries[0]["path"]: st.info(dst) or {}} if single else st.details_below(dst)
        store.stamp_remote(described, listed)
    if single:
        described["file"] = True
    return described


KIND = DataTransferKind()
