"""``DataTransferOperator``: move files or SQL tables between datastores (Azure ML's DataTransferStep)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_mlpipelines.operators.step_operator import StepOperator
from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.model import DatastoreSpec, DataTransferSpec, TransferEndpoint
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.model import ReferenceType, TransferFormat
    from airflow_mlpipelines.pipeline.step_task import Token

_SOURCE, _DESTINATION, _OUTPUT = "source", "destination", "output"


class DataTransferOperator(StepOperator):
    """Copy files between datastores, export a table or query to Parquet/CSV, or load files into a table.

    Runs on the worker through the same runner as every step: a file source is fingerprinted by its
    content (an unchanged source is reused by a pipeline's reuse task), the destination appears only
    complete (files renamed into place or uploaded whole, the manifest written last; a table load is one
    transaction), and progress (files, bytes or rows, rate) goes to the task log every few seconds.

    In a pipeline the DAG factory passes ``task``. In a hand-written DAG name the two ends::

        DataTransferOperator(
            task_id="export_sales",
            source_conn_id="warehouse", source_query="SELECT * FROM sales WHERE day = '{{ ds }}'",
            destination_url="s3://aws_default@lake/sales/{{ ds }}.parquet",
        )
        DataTransferOperator(
            task_id="load_scores",
            source_url="s3://aws_default@lake/scores/", destination_conn_id="warehouse",
            destination_table="public.scores",
        )

    :param task: The step's description (pipelines).
    :param source_url: A file or folder (local path or ``s3://<conn_id>@bucket/...``). (templated)
    :param source_conn_id: A SQL database's Airflow connection, with one of ``source_table``,
        ``source_query`` (templated) or ``source_stored_procedure``.
    :param destination_url: The exact file or folder written. (templated)
    :param destination_conn_id: A SQL database's Airflow connection, with ``destination_table`` (an
        existing table whose columns match the source's; rows are appended in one transaction).
    :param format: What a SQL source is written as: ``parquet`` (default) or ``csv`` (with a header).
    :param source_reference_type: ``file`` or ``directory`` (default: what the source is).
    :param destination_reference_type: ``file`` or ``directory`` (default: what the destination is,
        else the source's type).
    """

    ui_color = "#e8f4d9"
    template_fields: Sequence[str] = ("arguments", "source_url", "source_query", "destination_url")
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json", "source_query": "sql"}

    def __init__(
        self,
        *,
        task: StepTask | None = None,
        arguments: list[list[Token]] | None = None,
        source_url: str | None = None,
        source_conn_id: str | None = None,
        source_table: str | None = None,
        source_query: str | None = None,
        source_stored_procedure: str | None = None,
        destination_url: str | None = None,
        destination_conn_id: str | None = None,
        destination_table: str | None = None,
        format: TransferFormat | None = None,
        source_reference_type: ReferenceType | None = None,
        destination_reference_type: ReferenceType | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task=task, arguments=arguments, **kwargs)
        if task is None:
            if (source_url is None) == (source_conn_id is None):
                raise ValueError("give task= (pipelines), or exactly one of source_url= and source_conn_id=")
            if (destination_url is None) == (destination_conn_id is None):
                raise ValueError("give exactly one of destination_url= and destination_conn_id=")
            sql_forms = [source_table, source_query, source_stored_procedure]
            if source_conn_id is not None and sum(v is not None for v in sql_forms) != 1:
                raise ValueError(
                    "a SQL source needs exactly one of source_table=, source_query=, source_stored_procedure="
                )
            if destination_conn_id is not None and destination_table is None:
                raise ValueError("a SQL destination needs destination_table=")
        self.source_url = source_url
        self.source_conn_id = source_conn_id
        self.source_table = source_table
        self.source_query = source_query
        self.source_stored_procedure = source_stored_procedure
        self.destination_url = destination_url
        self.destination_conn_id = destination_conn_id
        self.destination_table = destination_table
        self.format = format
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type

    def step_task(self, context: Context) -> StepTask:
        """The pipeline's description, or one built from this operator's (rendered) arguments."""
        if self.task is not None:
            return self.task
        datastores = []
        inputs: tuple[InputBinding, ...] = ()
        outputs: tuple[OutputBinding, ...] = ()
        if self.source_conn_id is not None:
            datastores.append(DatastoreSpec(_SOURCE, connection=self.source_conn_id))
            source = TransferEndpoint(
                _SOURCE,
                sql_table=self.source_table,
                sql_query=self.source_query,
                sql_stored_procedure=self.source_stored_procedure,
            )
        else:
            source = TransferEndpoint(_SOURCE, path="", reference_type=self.source_reference_type)
            inputs = (InputBinding(_SOURCE, path=str(self.source_url)),)
        if self.destination_conn_id is not None:
            datastores.append(DatastoreSpec(_DESTINATION, connection=self.destination_conn_id))
            destination = TransferEndpoint(_DESTINATION, sql_table=self.destination_table)
        else:
            datastores.append(DatastoreSpec(_DESTINATION, url=str(self.destination_url)))
            destination = TransferEndpoint(
                _DESTINATION, path="", reference_type=self.destination_reference_type
            )
            outputs = (OutputBinding(_OUTPUT, _DESTINATION, path=""),)
        fmt: TransferFormat = self.format or (
            "csv" if str(self.destination_url or "").lower().endswith(".csv") else "parquet"
        )
        return StepTask(
            pipeline=self.dag_id,
            step=self.task_id,
            kind="data_transfer",
            script_name="",
            source_directory="",
            target=LOCAL_TARGET,
            inputs=inputs,
            outputs=outputs,
            datastores=tuple(datastores),
            transfer=DataTransferSpec(
                source=source,
                destination=destination,
                source_input=_SOURCE if inputs else None,
                destination_output=_OUTPUT if outputs else None,
                format=fmt,
            ),
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the transfer; returns the destination's URL (``output``) or the table and rows loaded."""
        urls, result = self.run_outputs(context)
        found: dict[str, Any] = dict(urls)
        found.update({k: v for k, v in result.details.items() if k in ("rows", "table", "files", "bytes")})
        return found
