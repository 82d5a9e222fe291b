"""Maintenance of stored XCom values: delete the DataFrame/JSON files no XCom row references any more.

Airflow's server-side clears and ``airflow db clean`` delete XCom rows without calling the XCom backend's
``purge``, so the files under ``[mlpipelines] xcom_path`` (local or object storage) stay. This DAG lists
them daily; trigger it with ``{"delete": true}`` (or set the param's default) to delete them. Files younger
than ``older_than_hours`` and files of runs still queued or running are never touched.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="mlpipelines_maintenance",
    description="Delete stored XCom values no XCom row references (dry run by default).",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    params={
        "delete": Param(False, type="boolean", description="delete the orphans (else only list them)"),
        "older_than_hours": Param(24, type="number", minimum=0, description="minimum age of a file"),
    },
    tags=["mlpipelines", "maintenance"],
    doc_md=__doc__,
):

    @task
    def stored_xcom_orphans(params: dict | None = None) -> dict:
        from airflow_mlpipelines.xcom import cleanup

        params = params or {}
        found = cleanup.orphans(older_than_seconds=float(params.get("older_than_hours", 24)) * 3600)
        for orphan in found:
            print(f"orphan {orphan.url} ({orphan.size} bytes, {orphan.age_seconds / 3600:.1f} h old)")
        deleted = cleanup.delete(found) if params.get("delete") else 0
        print(f"{len(found)} orphan(s), {deleted} deleted")
        return {"orphans": len(found), "deleted": deleted, "bytes": sum(o.size for o in found)}

    stored_xcom_orphans()
