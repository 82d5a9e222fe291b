"""DataFrames cross task boundaries through DataFrameXComBackend on a real Airflow (dag.test())."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DAG_FILE = textwrap.dedent(
    """
    import datetime
    import pandas as pd
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, task

    with DAG("{dag_id}", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

        @task
        def produce():
            return pd.DataFrame({{
                "i": pd.array([1, None, 3], dtype="Int64"),
                "s": pd.Series(["a", None, "c"], dtype="str"),
                "ts": pd.date_range("2024-01-01", periods=3, tz="UTC"),
                "raw": [b"x", b"y", b"z"],
            }})

        @task
        def consume(df, **context):
            pulled = context["ti"].xcom_pull(task_ids="produce")
            assert pulled.equals(df)
            assert str(df["i"].dtype) == "Int64"
            assert str(df["ts"].dtype).endswith(", UTC]")
            assert list(df["raw"]) == [b"x", b"y", b"z"]
            with open("{out}", "w") as fh:
                fh.write(df.to_json())
            return {{"rows": len(df)}}

        frame = produce()
        consume(frame)
        # A templated pull renders the DataFrame the backend reads back, not its reference.
        frame >> BashOperator(
            task_id="templated",
            bash_command="echo rows={{{{ ti.xcom_pull(task_ids='produce').shape[0] }}}} "
            "total={{{{ ti.xcom_pull(task_ids='produce')['i'].sum() }}}} > {templated}",
        )
    """
)


def test_dataframe_passes_between_tasks(scratch_dags: Path, airflow_home: Path, tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    out = tmp_path / "seen.json"
    dag_id = f"xcom_{scratch_dags.name}"[:60]
    templated = tmp_path / "templated.txt"
    dag_file = DAG_FILE.format(dag_id=dag_id, out=out, templated=templated)
    (scratch_dags / f"{dag_id}.py").write_text(dag_file)
    (dag,) = DagBag(str(scratch_dags)).dags.values()
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"produce": "success", "consume": "success", "templated": "success"}
    assert templated.read_text().strip() == "rows=3 total=4"
    assert json.loads(out.read_text())["s"] == {"0": "a", "1": None, "2": "c"}
    # Other tests of the session store frames too (Execute Python Script steps return theirs).
    stored = [p for p in (airflow_home / "mlpipelines" / "xcom").rglob("*.arrow") if dag_id in str(p)]
    assert len(stored) == 1


def test_orphaned_frame_files_are_listed_and_deleted(
    scratch_dags: Path, airflow_home: Path, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from airflow_mlpipelines.cli import main

    dag_id = f"xcom_{scratch_dags.name}"[:60]
    dag_file = DAG_FILE.format(dag_id=dag_id, out=tmp_path / "seen.json", templated=tmp_path / "t.txt")
    (scratch_dags / f"{dag_id}.py").write_text(dag_file)
    (dag,) = DagBag(str(scratch_dags)).dags.values()
    assert dag.test().state == "success"
    xcom_root = airflow_home / "mlpipelines" / "xcom"
    referenced = [p for p in xcom_root.rglob("*.arrow") if dag_id in str(p)]
    assert len(referenced) == 1
    stray = xcom_root / dag_id / "crashed" / "return_value-0-deadbeef.arrow"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"partial")

    from airflow_mlpipelines.xcom.cleanup import orphans

    assert str(stray) not in [o.url for o in orphans()]  # too young: its XCom row may be on its way
    found = [o.url for o in orphans(older_than_seconds=0)]
    assert str(stray) in found
    assert str(referenced[0]) not in found
    assert main(["xcom-orphans", "--delete", "--older-than", "0"]) == 0
    assert not stray.exists()
    assert referenced[0].exists()


def test_frames_of_a_running_run_are_never_orphans(airflow_home: Path, airflow_db: Path) -> None:
    """Issue 16, item 4: a task of a queued or running run may be about to record or read its file."""
    import datetime

    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from airflow_mlpipelines.paths import safe_segment
    from airflow_mlpipelines.xcom.cleanup import orphans

    dag_id, run_id = "orphans_running", "manual__2026-01-01T00:00:00+00:00"
    with create_session() as session:
        if session.get(DagModel, dag_id) is None:
            session.add(DagModel(dag_id=dag_id, bundle_name="dags-folder"))
        session.add(
            DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=DagRunState.RUNNING,
                run_after=datetime.datetime.now(datetime.UTC),
                triggered_by=DagRunTriggeredByType.TEST,
            )
        )
    xcom_root = airflow_home / "mlpipelines" / "xcom"
    live = xcom_root / dag_id / safe_segment(run_id) / "t" / "return_value-0-cafe.arrow"
    done = xcom_root / dag_id / "finished_run" / "t" / "return_value-0-cafe.arrow"
    for path in (live, done):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = [o.url for o in orphans(older_than_seconds=0)]
    assert str(done) in found
    assert str(live) not in found
