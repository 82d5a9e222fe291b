"""Cached getters for the ``[mlpipelines]`` section: the only module that reads Airflow's configuration.

Values are read lazily (at task run time, never while a DAG file is parsed) and cached per process.
"""

from __future__ import annotations

import os
from functools import cache

SECTION = "mlpipelines"


def _path_option(option: str, *default_under_home: str) -> str:
    """A path option, defaulting to ``$AIRFLOW_HOME/<default_under_home...>``."""
    from airflow.sdk import conf

    value = conf.get(SECTION, option, fallback=None)
    if value:
        return str(value)
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return os.path.join(home, *default_under_home)


@cache
def datastore_root() -> str:
    """Root URL or path under which named datastores and step outputs live.

    Default: ``$AIRFLOW_HOME/mlpipelines/datastore``. Any ``ObjectStoragePath`` URL works
    (``s3://bucket/prefix`` with ``conn_id`` in the URL user part, ``gs://``, ``abfs://``...).
    """
    return _path_option("datastore_root", "mlpipelines", "datastore")


def model_registry() -> str:
    """``[mlpipelines] model_registry``: where registered models live (any datastore URL; local disks
    and S3 only, as versions are claimed with conditional writes). Default ``<datastore_root>/models``."""
    from airflow.sdk import conf

    value = conf.get(SECTION, "model_registry", fallback=None)
    return str(value) if value else f"{datastore_root().rstrip('/')}/models"


@cache
def kill_grace_seconds() -> float:
    """Seconds a step's process gets after SIGTERM before SIGKILL when its task is stopped."""
    from airflow.sdk import conf

    return conf.getfloat(SECTION, "kill_grace_seconds", fallback=10.0)


@cache
def digest_cache_path() -> str:
    """JSON cache of file digests keyed by path + size + mtime (makes unchanged trees cheap to hash)."""
    return _path_option("digest_cache", "mlpipelines", "cache", "digests.json")


@cache
def verify_mode() -> str:
    """``size`` (default: every output file exists with its recorded size) or ``full`` (also SHA-256)."""
    from airflow.sdk import conf

    return str(conf.get(SECTION, "verify", fallback="size"))


@cache
def lease_seconds() -> float:
    """How long a step's in-flight lease lasts without renewal (the running step renews it)."""
    from airflow.sdk import conf

    return conf.getfloat(SECTION, "lease_seconds", fallback=300.0)


@cache
def lease_poll_seconds() -> float:
    """How often a run waiting for the same step in another run checks for its outputs."""
    from airflow.sdk import conf

    return conf.getfloat(SECTION, "lease_poll_seconds", fallback=2.0)


@cache
def xcom_frames_path() -> str:
    """Where the XCom backend stores DataFrames. Default: ``$AIRFLOW_HOME/mlpipelines/xcom``."""
    return _path_option("xcom_path", "mlpipelines", "xcom")


@cache
def xcom_frame_format() -> str | None:
    """``arrow``, ``arrow-lz4`` or ``parquet``; None (unset) lets the backend choose per storage scheme."""
    from airflow.sdk import conf

    value = conf.get(SECTION, "xcom_format", fallback=None)
    return str(value) if value else None


@cache
def eps_time_limit_seconds() -> float:
    """Wall-clock limit of an Execute Python Script step's child process (0: none). Default one hour."""
    from airflow.sdk import conf

    return conf.getfloat(SECTION, "eps_time_limit_seconds", fallback=3600.0)


@cache
def eps_memory_limit_mb() -> int:
    """Address-space limit (``RLIMIT_AS``) of an Execute Python Script child process in MiB (0: none)."""
    from airflow.sdk import conf

    return conf.getint(SECTION, "eps_memory_limit_mb", fallback=0)


@cache
def eps_bundle_max_bytes() -> int:
    """Largest uncompressed size of an Execute Python Script bundle (zip-bomb guard). Default 256 MiB."""
    from airflow.sdk import conf

    return conf.getint(SECTION, "eps_bundle_max_bytes", fallback=256 * 1024 * 1024)


@cache
def eps_bundle_max_files() -> int:
    """Most entries an Execute Python Script bundle may hold (zip-bomb guard). Default 10000."""
    from airflow.sdk import conf

    return conf.getint(SECTION, "eps_bundle_max_files", fallback=10_000)


@cache
def xcom_offload_threshold() -> int:
    """Bytes of JSON from which a non-DataFrame XCom value is stored as a file too; -1 (default) never."""
    from airflow.sdk import conf

    return conf.getint(SECTION, "xcom_offload_threshold", fallback=-1)


@cache
def api_base_path() -> str:
    """The path part of ``[api] base_url`` without a trailing slash ('' when Airflow is served at /).

    Links to the UI plugin's pages are paths on the API server, so they must keep this prefix.
    """
    from urllib.parse import urlsplit

    from airflow.sdk import conf

    base = conf.get("api", "base_url", fallback="") or ""
    return urlsplit(base).path.rstrip("/")


def metrics_backend() -> str:
    """``[mlpipelines] metrics_backend``: where runs' metrics go besides their record (``record`` or
    ``mlflow``)."""
    from airflow.sdk import conf

    return str(conf.get(SECTION, "metrics_backend", fallback="record") or "record").lower()


def mlflow_tracking_uri() -> str | None:
    """``[mlpipelines] mlflow_tracking_uri``, else the URI of the Airflow connection
    ``[mlpipelines] mlflow_conn_id`` (its host when that is a URI), else None."""
    from airflow.sdk import conf

    uri = conf.get(SECTION, "mlflow_tracking_uri", fallback=None)
    if uri:
        return str(uri)
    conn_id = conf.get(SECTION, "mlflow_conn_id", fallback=None)
    if not conn_id:
        return None
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(str(conn_id))
    host = str(connection.host or "")
    return host if "://" in host else str(connection.get_uri())


def mlflow_ui_url() -> str | None:
    """``[mlpipelines] mlflow_ui_url``: the MLflow UI the task's extra link opens (default: the
    tracking URI when it is an http(s) server)."""
    from airflow.sdk import conf

    value = conf.get(SECTION, "mlflow_ui_url", fallback=None)
    return str(value) if value else None
