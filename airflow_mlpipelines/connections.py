"""The storage layer on Airflow components: URLs resolve through Airflow connections.

:class:`AirflowStorage` is the :class:`~airflow_mlpipelines.storage.Storage` of workers, the triggerer
and the API server: ``s3://<conn_id>@bucket/...`` gets its filesystem from ``airflow.sdk.io.attach`` —
the same filesystems ``ObjectStoragePath`` uses, built by the providers from the connection (and any
secrets backend). :func:`export_connections` turns the connections a step plan names into the storage
options a container gets (``$MLP_STORAGE_CONNECTIONS``), registered with Airflow's secrets masker so
they never show in logs or rendered templates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airflow_mlpipelines.exceptions import StorageError
from airflow_mlpipelines.storage import FsspecStorage, connection_ids

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


_PROVIDERS = {
    "s3": "apache-airflow-providers-amazon[s3fs]",
    "s3a": "apache-airflow-providers-amazon[s3fs]",
    "abfs": "apache-airflow-providers-microsoft-azure (a 'wasb' connection)",
    "abfss": "apache-airflow-providers-microsoft-azure (a 'wasb' connection)",
    "adl": "apache-airflow-providers-microsoft-azure",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
}
"""The provider that registers each scheme's filesystem with Airflow (named when it is missing)."""


class AirflowStorage(FsspecStorage):
    """Resolve datastore URLs with Airflow's connections (workers, triggerer, API server)."""

    def _filesystem(self, scheme: str, conn_id: str | None) -> Any:
        if scheme == "file":
            return LocalFileSystem()
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
        from airflow.sdk.io import get_fs

        try:
            if conn_id is not None:
                # Some providers quietly fall back to an empty connection (anonymous access to the
                # cloud's public endpoint) when the id is unknown: refuse that here, by name.
                BaseHook.get_connection(conn_id)
            return get_fs(scheme, conn_id)
        except AirflowNotFoundException:
            raise StorageError(
                f"{scheme}://{conn_id}@...: Airflow has no connection '{conn_id}' "
                "(create it in Admin > Connections, an AIRFLOW_CONN_* variable or a secrets backend)"
            ) from None
        except ValueError:
            if conn_id is None:  # a scheme no provider registers (memory://...): plain fsspec
                return fsspec.filesystem(scheme)
            raise StorageError(
                f"{scheme}://{conn_id}@...: no Airflow provider registers the {scheme}:// filesystem "
                f"(install {_PROVIDERS.get(scheme, 'its Airflow provider')})"
            ) from None
        except ImportError as exc:
            raise StorageError(f"{scheme}:// storage (connection '{conn_id}'): {exc}") from None


def _aws_options(conn_id: str) -> dict[str, Any]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=conn_id)
    credentials = hook.get_credentials()
    client_kwargs: dict[str, Any] = {}
    endpoint = hook.conn_config.get_service_endpoint_url(service_name="s3")
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    if hook.conn_config.region_name:
        client_kwargs["region_name"] = hook.conn_config.region_name
    options: dict[str, Any] = {"client_kwargs": client_kwargs}
    if credentials.access_key:
        options["key"] = credentials.access_key
        options["secret"] = credentials.secret_key
    if credentials.token:
        options["token"] = credentials.token
    config_kwargs = hook.conn_config.extra_config.get("config_kwargs")
    if config_kwargs:
        options["config_kwargs"] = dict(config_kwargs)
    return options


def export_connections(conn_ids: Iterable[str], schemes: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Storage options of each connection, for a container that cannot ask Airflow.

    ``schemes`` maps a connection id to the URL scheme it is used with. S3 connections (``aws``) are
    exported as key/secret/token/endpoint/region (temporary credentials expire with their session);
    for other schemes the filesystem's own ``storage_options`` are used when they are plain JSON.
    Every secret value is registered with Airflow's secrets masker.
    """
    from airflow.sdk.log import mask_secret

    exported: dict[str, dict[str, Any]] = {}
    for conn_id in conn_ids:
        scheme = schemes[conn_id]
        if scheme in ("s3", "s3a"):
            options = _aws_options(conn_id)
        else:
            fs = AirflowStorage().resolve(f"{scheme}://{conn_id}@x/").fs
            options = dict(getattr(fs, "storage_options", {}) or {})
            try:
                json.dumps(options)
            except TypeError:
                raise StorageError(
                    f"connection '{conn_id}' ({scheme}://) cannot be handed to a container as plain "
                    "options: give the compute target the credentials itself (env, secrets) or use a "
                    "workload identity"
                ) from None
        for key in ("secret", "token", "password", "account_key", "sas_token", "client_secret", "token_"):
            if options.get(key):
                mask_secret(options[key])
        exported[conn_id] = {"protocol": scheme, "storage_options": options}
    return exported


def plan_connections(plan: Mapping[str, Any] | None) -> str:
    """Jinja filter ``mlp_storage_connections``: the JSON a container gets for the URLs of its plan.

    The DockerOperator/KubernetesPodOperator environment renders it at run time on the worker, from
    the plan the reuse task pushed; the whole value is masked in logs and rendered fields.
    """
    from airflow.sdk.log import mask_secret

    if not plan:
        return "{}"
    urls = [
        *dict(plan.get("inputs", {})).values(),
        *dict(plan.get("outputs", {})).values(),
        str(plan.get("manifest", "")),
        str(plan.get("models", "")),
    ]
    schemes = {}
    for url in urls:
        if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
            schemes[connection_ids([url])[0]] = url.split("://", 1)[0]
    text = json.dumps(export_connections(sorted(schemes), schemes), sort_keys=True)
    if schemes:
        mask_secret(text)
    return text
