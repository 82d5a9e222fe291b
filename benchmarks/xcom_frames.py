"""DataFrame XCom round trips: our backend (each format) vs Airflow's default serde, common-io, raw paths.

Run: ``.venv/bin/python benchmarks/xcom_frames.py [--rows 1000000 10000000] [--strings arrow object]
[--repeat 3] [--deployment celery]``

``--deployment celery`` measures what a worker of the distributed deployment does instead: the frame
goes to S3 (moto's server on loopback, through an Airflow ``aws`` connection, as the Celery workers of
tests/deploy use it) and back, against the raw path over the same store: the same Arrow IPC bytes put
and got with s3fs (plus, separately, just moving those bytes).

Each variant runs in a fresh process (so peak RSS is its own): build the DESIGN.md §4 frame, then push
(serialize_value) and pull (deserialize_value) through the backend's public methods, and check the frame
came back equal. Printed: seconds (the median of ``--repeat`` fresh processes, so one slow page-cache
flush does not decide a ratio), stored bytes, peak RSS over the frame's size, and ratios against a deep
copy, a hand-written Arrow IPC file round trip (the floor of any file-based hand-off) and raw pyarrow
Parquet-zstd, all measured in the same run. ``--strings`` picks the benchmark frame's string column:
pandas 3's Arrow-backed ``str`` and/or an object column of Python strings (which we give back as object;
the hand-written round trip gives ``str`` back).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

VARIANTS = [
    "deep copy",
    "raw Arrow IPC (mmap)",
    "raw Parquet-zstd",
    "ours: arrow",
    "ours: arrow-lz4",
    "ours: parquet",
    "Airflow default serde",
    "common-io backend",
]

BASELINES = ("deep copy", "raw Arrow IPC (mmap)", "raw Parquet-zstd")

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, time, glob
    import numpy as np, pandas as pd
    variant, rows, workdir, strings = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[5]
    sys.path.insert(0, sys.argv[4])
    from mixed_frame import mixed_frame as frame

    import pyarrow as pa
    import pyarrow.parquet as pq
    from airflow.sdk.bases.xcom import BaseXCom

    if variant.startswith("ours"):
        from airflow_mlpipelines import settings
        from airflow_mlpipelines.frames import codec  # noqa: F401  (warm worker: imported before timing)
        from airflow_mlpipelines.xcom.backend import DataFrameXComBackend as B
        settings.xcom_frames_path(), settings.xcom_frame_format()
    elif variant.startswith("common-io"):
        from airflow.providers.common.io.xcom.backend import XComObjectStorageBackend as B
    else:
        B = BaseXCom

    class Row:
        def __init__(self, value):
            self.value = value

    df = frame(rows, strings)
    mem = df.memory_usage(deep=True).sum()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stored = 0
    t0 = time.perf_counter()
    if variant == "deep copy":
        back = df.copy(deep=True)
    elif variant.startswith("s3 raw"):
        import s3fs
        fs = s3fs.S3FileSystem(key=os.environ["BENCH_KEY"], secret=os.environ["BENCH_SECRET"],
                               client_kwargs={"endpoint_url": os.environ["BENCH_ENDPOINT"]})
        path, local = "bench/raw.arrow", os.path.join(workdir, "raw.arrow")
        if "bytes" in variant:  # only the bytes: written before the clock starts
            table = pa.Table.from_pandas(df, preserve_index=False)
            with pa.OSFile(local, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
            t0 = time.perf_counter()
            fs.put_file(local, path)
            fs.get_file(path, local + ".back")
            back = df
        else:
            table = pa.Table.from_pandas(df, preserve_index=False)
            with pa.OSFile(local, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
            fs.put_file(local, path)
            fs.get_file(path, local + ".back")
            with pa.memory_map(local + ".back") as src:
                back = pa.ipc.open_file(src).read_all().to_pandas()
        stored = fs.size(path)
    elif variant.startswith("raw"):
        path = os.path.join(workdir, "raw")
        table = pa.Table.from_pandas(df, preserve_index=False)
        if "Parquet" in variant:
            pq.write_table(table, path, compression="zstd")
            back = pq.read_table(path).to_pandas()
        else:
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
            with pa.memory_map(path) as src:
                back = pa.ipc.open_file(src).read_all().to_pandas()
        stored = os.path.getsize(path)
    else:
        value = B.serialize_value(df, key="return_value", task_id="t", dag_id="d", run_id="r", map_index=-1)
        back = B.deserialize_value(Row(value))
        if variant.endswith("on S3"):
            stored = int(json.loads(value)["bytes"]) if isinstance(value, str) else int(value["bytes"])
        else:
            found = glob.glob(os.path.join(workdir, "**", "*"), recursive=True)
            files = [p for p in found if os.path.isfile(p)]
            stored = sum(os.path.getsize(p) for p in files) or len(str(value))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert back.shape == df.shape and list(back.columns) == list(df.columns), (back.shape, df.shape)
    assert back["i"].equals(df["i"]) and back["ts"].equals(df["ts"])
    print(json.dumps({"seconds": seconds, "stored": stored, "mem": int(mem),
                      "peak_over_frame": (peak - base_rss) / mem}))
    """
)


S3_VARIANTS = [
    "s3 raw: bytes put+get",
    "s3 raw: Arrow IPC write+put+get+read",
    "ours: arrow on S3",
    "ours: parquet on S3",
]
S3_BASELINE = "s3 raw: Arrow IPC write+put+get+read"


def run(
    variant: str,
    rows: int,
    root: Path,
    extra_env: dict[str, str] | None = None,
    strings: str = "arrow",
    repeat: int = 1,
) -> dict[str, float]:
    """The variant's figures, seconds being the median of ``repeat`` fresh processes."""
    results = [_run_once(variant, rows, root, extra_env, strings) for _ in range(repeat)]
    results.sort(key=lambda r: r["seconds"])
    return results[len(results) // 2]


def _run_once(
    variant: str, rows: int, root: Path, extra_env: dict[str, str] | None, strings: str
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=root))
    fmt = variant.split(": ")[1].split()[0] if variant.startswith("ours") else "arrow"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(root / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__MLPIPELINES__XCOM_PATH": str(work),
        "AIRFLOW__MLPIPELINES__XCOM_FORMAT": fmt,
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": f"file://{work}",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "0",
        **(extra_env or {}),
    }
    here = str(Path(__file__).resolve().parent)  # the child imports mixed_frame from here
    out = subprocess.run(
        [sys.executable, "-c", CHILD, variant, str(rows), str(work), here, strings],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)  # the next process does not find the last one's pages
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def object_store(rows_list: list[int], root: Path) -> None:
    """``--deployment celery``: through S3 (moto on loopback) with an Airflow connection, vs raw s3fs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.deploy.servers import MotoServer

    moto = MotoServer(root / "moto")
    moto.start()
    try:
        moto.create_bucket("bench")
        connection = {
            "conn_type": "aws",
            "login": moto.access_key,
            "password": moto.secret_key,
            "extra": {"endpoint_url": moto.endpoint_url, "region_name": "us-east-1"},
        }
        env = {
            "AIRFLOW_CONN_MLP_BENCH": json.dumps(connection),
            "AIRFLOW__MLPIPELINES__XCOM_PATH": "s3://mlp_bench@bench/xcom",
            "BENCH_KEY": moto.access_key,
            "BENCH_SECRET": moto.secret_key,
            "BENCH_ENDPOINT": moto.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for rows in rows_list:
            results = {v: run(v, rows, root, env) for v in S3_VARIANTS}
            base = results[S3_BASELINE]["seconds"]
            moved = results["s3 raw: bytes put+get"]["seconds"]
            print(f"\n{rows:,} rows x 7 columns through S3 (moto on loopback, Airflow connection)")
            print(f"{'variant':40s} {'seconds':>8s} {'stored MB':>10s} {'/raw IPC':>9s} {'/bytes':>7s}")
            for variant, r in results.items():
                seconds = r["seconds"]
                print(
                    f"{variant:40s} {seconds:8.3f} {r['stored'] / 1e6:10.1f} {seconds / base:9.2f}"
                    f" {seconds / moved:7.2f}"
                )
        print("\ngoal: ours (arrow) on S3 <= 1.2x the raw s3fs put+get of the same Arrow bytes")
    finally:
        moto.process.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--only", nargs="*", default=None, help="extra variants besides the two baselines")
    parser.add_argument("--deployment", choices=("standalone", "celery"), default="standalone")
    parser.add_argument("--strings", nargs="+", choices=("arrow", "object"), default=["arrow", "object"])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per variant (median)")
    args = parser.parse_args()
    if args.deployment == "celery":
        with tempfile.TemporaryDirectory(prefix="mlp-bench-xcom-s3-") as tmp:
            object_store(args.rows, Path(tmp))
        return 0
    with tempfile.TemporaryDirectory(prefix="mlp-bench-xcom-") as tmp:
        root = Path(tmp)
        for rows, strings in [(r, s) for r in args.rows for s in args.strings]:
            chosen = [v for v in VARIANTS if args.only is None or v in args.only or v in BASELINES]
            results = {v: run(v, rows, root, strings=strings, repeat=args.repeat) for v in chosen}
            mem = results["deep copy"]["mem"] / 1e6
            copy_s = results["deep copy"]["seconds"]
            ipc_s = results["raw Arrow IPC (mmap)"]["seconds"]
            parquet_s = results["raw Parquet-zstd"]["seconds"]
            print(
                f"\n{rows:,} rows x 7 columns, {strings} strings ({mem:.0f} MB in memory), "
                f"median of {args.repeat}"
            )
            print(f"{'variant':24s} {'seconds':>8s} {'stored MB':>10s} {'peak/frame':>11s}", end="")
            print(f" {'/copy':>7s} {'/raw ipc':>9s} {'/raw pq':>8s}")
            for variant, r in results.items():
                seconds, stored, peak = r["seconds"], r["stored"] / 1e6, r["peak_over_frame"]
                print(f"{variant:24s} {seconds:8.3f} {stored:10.1f} {peak:11.2f}", end="")
                print(f" {seconds / copy_s:7.2f} {seconds / ipc_s:9.2f} {seconds / parquet_s:8.2f}")
    print(
        "\ngoals: ours (arrow) <= 1.0x raw Arrow IPC on both string variants (every read verified); "
        "ours (parquet) <= 1.1x raw Parquet-zstd; peak <= 2x frame"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
