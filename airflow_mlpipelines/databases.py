"""SQL datastores on Airflow components: an Airflow connection id → a database a data transfer reads or
writes, through the connection's common-sql ``DbApiHook``.

PostgreSQL is read and written with the Arrow-native ADBC driver (``adbc-driver-postgresql``: binary
``COPY`` into record batches, no row-by-row Python objects), when it is installed; every other
database (SQLite, MySQL, ...) and PostgreSQL without ADBC goes through the hook's DB-API connection,
fetched ``batch_rows`` rows at a time. A load into a table is one transaction either way: a failure
leaves the table as it was. Errors name the connection and carry the database's own message.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.frames import transfer as tf

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

_IDENTIFIER = re.compile(r'^(?:[A-Za-z_][\w$]*|"[^"]+")(?:\.(?:[A-Za-z_][\w$]*|"[^"]+"))*$')
_LIBPQ_EXTRAS = (
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "connect_timeout", "application_name",
    "options", "target_session_attrs",
)  # fmt: skip
_NUMERIC_OID = 1700
_DRIVER_EXTENSIONS = ("arrow.uuid", "arrow.json")
"""Extension types the ADBC driver writes as their PostgreSQL types (uuid, jsonb)."""
_BATCH_BYTES = 16 << 20
"""ADBC's PostgreSQL batch size hint: a record batch of about this many bytes (bounded memory)."""


class DatabaseError(StepExecutionError):
    """A database refused a statement (the message includes the database's own)."""


def table_name(name: str) -> str:
    """``name`` if it is a (schema-qualified, optionally double-quoted) SQL identifier; an error otherwise
    (a table name is written into statements, so it must not carry SQL)."""
    if not _IDENTIFIER.match(name):
        raise DatabaseError(f"{name!r} is not a table name (schema.table, letters, digits, '_')")
    return name


class SqlDatabase:
    """One Airflow connection's database, opened for the duration of a transfer."""

    def __init__(self, conn_id: str) -> None:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        self.conn_id = conn_id
        try:
            connection = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise DatabaseError(
                f"Airflow has no connection '{conn_id}' (create it in Admin > Connections, an "
                "AIRFLOW_CONN_* variable or a secrets backend)"
            ) from None
        try:
            hook = connection.get_hook()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise DatabaseError(
                f"connection '{conn_id}' (type {connection.conn_type!r}) has no usable hook: {exc} "
                "(is its provider installed?)"
            ) from None
        if not isinstance(hook, DbApiHook):
            raise DatabaseError(
                f"connection '{conn_id}' is of type {connection.conn_type!r}, which is not a SQL database "
                "(a SQL datastore needs a connection whose hook is a common-sql DbApiHook: postgres, "
                "sqlite, mysql, mssql, ...)"
            )
        self.hook = hook
        self.connection = connection
        self.dialect = str(getattr(hook, "dialect_name", connection.conn_type) or connection.conn_type)
        self._adbc = self.dialect == "postgresql" and _has_adbc()
        self._conn: Any = None

    # -- connections ----------------------------------------------------------------------------
    @property
    def arrow_native(self) -> bool:
        """Whether batches come from ADBC (else from the DB-API cursor)."""
        return self._adbc

    def _fail(self, what: str, exc: BaseException) -> DatabaseError:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DatabaseError(f"connection '{self.conn_id}' ({self.dialect}): {what} failed: {message}")

    def _dbapi(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self.hook.get_conn()
            except Exception as exc:
                raise self._fail("connecting", exc) from None
        return self._conn

    def _adbc_connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as adbc

        try:
            return adbc.connect(self._libpq_uri())
        except Exception as exc:
            raise self._fail("connecting", exc) from None

    def _libpq_uri(self) -> str:
        conn = self.connection
        user = quote(conn.login or "", safe="")
        password = f":{quote(conn.password, safe='')}" if conn.password else ""
        auth = f"{user}{password}@" if user else ""
        host = conn.host or "localhost"
        port = f":{conn.port}" if conn.port else ""
        database = quote(str(getattr(self.hook, "database", None) or conn.schema or ""), safe="")
        extras = {k: str(v) for k, v in conn.extra_dejson.items() if k in _LIBPQ_EXTRAS}
        query = f"?{urlencode(extras)}" if extras else ""
        return f"postgresql://{auth}{host}{port}/{database}{query}"

    def close(self) -> None:
        """Close the DB-API connection (if one was opened)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- statements -----------------------------------------------------------------------------
    def source_query(self, *, table: str | None, query: str | None, procedure: str | None) -> str:
        """The statement that reads a source: a whole table, a query, or a stored procedure's result."""
        if table is not None:
            return f"SELECT * FROM {table_name(table)}"
        if query is not None:
            return query.strip().rstrip(";")
        assert procedure is not None  # noqa: S101 - the model has exactly one of the three
        name = table_name(procedure.removesuffix("()"))
        if self.dialect == "postgresql":
            return f"SELECT * FROM {name}()"  # a set-returning function
        if self.dialect == "sqlite":
            raise DatabaseError("SQLite has no stored procedures: use sql_query or sql_table")
        if self.dialect == "mssql":
            return f"EXEC {name}"
        return f"CALL {name}()"

    def read(self, statement: str, batch_rows: int) -> tuple[pa.RecordBatchReader, Any]:
        """The statement's rows as Arrow batches, and what to close when they have been read."""
        if self._adbc:
            numeric = self._numeric_columns(statement)
            conn = self._adbc_connect()
            try:
                cursor = conn.cursor()
                with contextlib.suppress(Exception):
                    cursor.adbc_statement.set_options(
                        **{"adbc.postgresql.batch_size_hint_bytes": str(_BATCH_BYTES)}
                    )
                cursor.execute(statement)
                reader = tf.prefetched(tf.decimals_for(cursor.fetch_record_batch(), numeric))
            except DatabaseError:
                conn.close()
                raise
            except Exception as exc:
                conn.close()
                raise self._fail("the query", exc) from None
            # The cursor owns the stream: it must live (and be closed) with the reader.
            return reader, _Closing(cursor, conn)
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(statement)
            return tf.cursor_batches(cursor, batch_rows), cursor
        except tf.FrameError:
            raise
        except Exception as exc:
            raise self._fail("the query", exc) from None

    def _numeric_columns(
        self, statement: str, unconstrained: tuple[int, int] | None = None
    ) -> dict[str, tuple[int, int]]:
        """PostgreSQL ``numeric(p, s)`` result columns (the hook's psycopg cursor describes them); a
        ``numeric`` without precision is left out, or given ``unconstrained``."""
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(f"SELECT * FROM ({statement}) AS mlp_described LIMIT 0")
            found = {}
            for column in cursor.description or []:
                precision, scale = getattr(column, "precision", None), getattr(column, "scale", None)
                if getattr(column, "type_code", None) != _NUMERIC_OID:
                    continue
                if precision:
                    found[str(column.name)] = (int(precision), int(scale or 0))
                elif unconstrained is not None:
                    found[str(column.name)] = unconstrained
            return found
        except Exception as exc:
            self._dbapi().rollback()
            raise self._fail("the query", exc) from None
        finally:
            cursor.close()

    def scalar(self, statement: str) -> list[Any]:
        """The first row of a statement (a ``reuse_query``), as JSON-friendly values."""
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(statement)
            row = cursor.fetchone()
        except Exception as exc:
            raise self._fail("reuse_query", exc) from None
        finally:
            cursor.close()
        return [v if isinstance(v, int | float | str | bool) or v is None else str(v) for v in (row or [])]

    def columns(self, table: str) -> list[str]:
        """The table's column names, in order; a table that does not exist is an error saying so."""
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(f"SELECT * FROM {table_name(table)} WHERE 1 = 0")
            return [str(d[0]) for d in cursor.description or []]
        except DatabaseError:
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                self._dbapi().rollback()
            raise self._fail(f"reading table {table}", exc) from None
        finally:
            cursor.close()

    def append(self, table: str, reader: pa.RecordBatchReader, progress: tf.RowProgress) -> int:
        """Append every row of ``reader`` (columns by name) to ``table`` in one transaction; returns rows.

        On any failure the transaction is rolled back, so the table is as it was.
        """
        name = table_name(table)
        if self._adbc:
            return self._append_adbc(name, reader, progress)
        conn = self._dbapi()
        columns = reader.schema.names
        placeholder = str(getattr(self.hook, "placeholder", "%s"))
        quoted = ", ".join(f'"{c}"' for c in columns)
        statement = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join([placeholder] * len(columns))})"
        rows = 0
        cursor = conn.cursor()
        try:
            with self._transaction(conn, table):
                for batch in reader:
                    values = list(zip(*(_python(c) for c in batch.columns), strict=True))
                    if values:
                        cursor.executemany(statement, values)
                    rows += batch.num_rows
                    progress.add(batch.num_rows)
        finally:
            cursor.close()
        return rows

    @contextlib.contextmanager
    def _transaction(self, conn: Any, table: str) -> Iterator[None]:
        """Commit what the block loads, or roll it all back: a failure leaves ``table`` as it was (and
        names the database's message)."""
        try:
            yield
            conn.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(exc, DatabaseError | tf.FrameError) or not isinstance(exc, Exception):
                raise
            raise self._fail(f"loading into {table} (rolled back: the table is unchanged)", exc) from None

    def _append_adbc(self, table: str, reader: pa.RecordBatchReader, progress: tf.RowProgress) -> int:
        conn = self._adbc_connect()
        try:
            with self._transaction(conn, table):
                schema_name, _, bare = table.rpartition(".")
                target = conn.adbc_get_table_schema(
                    bare.strip('"'), db_schema_filter=schema_name.strip('"') or None
                )
                # numeric columns take exact decimals (the driver writes no numeric from text); an
                # unconstrained numeric takes up to 38 digits, 9 after the point (a value needing more is an
                # error, not rounded)
                numeric = self._numeric_columns(f"SELECT * FROM {table}", unconstrained=(38, 9))
                conformed = tf.conform(reader, _writable_schema(target, numeric), f"loading into {table}")
                counted = _counting(conformed, progress)
                with conn.cursor() as cursor:
                    kwargs: dict[str, Any] = {"mode": "append"}
                    if schema_name:
                        kwargs["db_schema_name"] = schema_name.strip('"')
                    rows = cursor.adbc_ingest(bare.strip('"'), counted, **kwargs)
            return int(rows if rows is not None and rows >= 0 else progress.rows)
        finally:
            with contextlib.suppress(Exception):
                conn.close()


def _python(column: Any) -> list[Any]:
    """A column's values as DB-API drivers take them: exact decimals, UUIDs and JSON as text (every
    driver binds a string; not all bind ``Decimal`` or ``UUID``), the rest as Arrow converts them."""
    import pyarrow as pa

    kind = column.type
    if isinstance(kind, pa.BaseExtensionType):
        column, kind = column.storage, kind.storage_type
        if pa.types.is_fixed_size_binary(kind) and kind.byte_width == 16:  # arrow.uuid
            import uuid

            return [None if v is None else str(uuid.UUID(bytes=v)) for v in column.to_pylist()]
    if pa.types.is_decimal(kind):
        return [None if v is None else str(v) for v in column.to_pylist()]
    return list(column.to_pylist())


class _Closing:
    """Closes a cursor, then its connection."""

    def __init__(self, *items: Any) -> None:
        self.items = items

    def close(self) -> None:
        for item in self.items:
            with contextlib.suppress(Exception):
                item.close()


def _writable_schema(schema: pa.Schema, numeric: dict[str, tuple[int, int]]) -> pa.Schema:
    """A table's Arrow schema as the ADBC driver writes it: ``numeric`` columns as decimals, UUIDs and
    JSON as Arrow's types for them, other PostgreSQL types Arrow has no type for as their text."""
    import pyarrow as pa

    fields = []
    for f in schema:
        kind = f.type
        if f.name in numeric:
            precision, scale = numeric[f.name]
            kind = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
        elif isinstance(kind, pa.BaseExtensionType) and kind.extension_name not in _DRIVER_EXTENSIONS:
            kind = kind.storage_type
        fields.append(pa.field(f.name, kind))
    return pa.schema(fields)


def _counting(reader: pa.RecordBatchReader, progress: tf.RowProgress) -> pa.RecordBatchReader:
    import pyarrow as pa

    def batches() -> Any:
        for batch in reader:
            yield batch
            progress.add(batch.num_rows)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _has_adbc() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


class AirflowDatabases:
    """Opens SQL datastores by Airflow connection id (what the runner is handed on a worker)."""

    def open(self, conn_id: str) -> SqlDatabase:
        """The database behind ``conn_id``."""
        return SqlDatabase(conn_id)
