"""Data transfer throughput against baselines measured in the same run (issue 13).

SQL → Parquet: ``--rows`` (default 10 M) rows of mixed types in a throw-away PostgreSQL server, exported
by our transfer path (ADBC record batches → Parquet-zstd, the code a ``data_transfer`` step runs), by
``pandas.read_sql`` + ``DataFrame.to_parquet`` (on the columns pandas can read at all: it has no answer
for jsonb/uuid/bytea as Parquet, so those are left out of that comparison), and by PostgreSQL's own
``COPY (...) TO STDOUT`` into a file (the floor). Each variant runs in a fresh process; its peak memory
over its own start-up is reported.

Files: ``--files`` (default 1,000) files of ``--file-mb`` (default 1) MB copied from a local datastore to
S3 (moto's server on loopback) by our copy (streamed, hashed, several at a time) and by a plain fsspec
``put`` of the same folder, and local → local against fsspec's ``copy``.

    .venv/bin/python benchmarks/data_transfer.py [--rows 10000000] [--files 1000 --file-mb 1]

Goals (issue 13): SQL → Parquet ≥ 3× pandas, ≤ 2× COPY, peak ≤ 256 MB; files ≥ 0.9× fsspec.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy.servers import LOOPBACK, MotoServer, PostgresServer  # noqa: E402

CONN = "bench_pg"
S3_CONN = "bench_s3"
BUCKET = "bench-transfer"

TABLE = """
DROP TABLE IF EXISTS bench;
CREATE UNLOGGED TABLE bench AS
SELECT g AS id,
       (g % 100000) * 0.01::numeric(12, 2) AS amount,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS sold_at,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'customer-' || (g % 5000) END AS name,
       g % 3 = 0 AS flag,
       (g % 977) / 7.0::float8 AS score,
       jsonb_build_object('k', g % 13) AS payload,
       md5(g::text)::uuid AS ref,
       decode(lpad(to_hex(g % 65536), 4, '0'), 'hex') AS blob
FROM generate_series(1, {rows}) g;
"""
ALL = "SELECT * FROM bench"
PANDAS_COLUMNS = "SELECT id, amount, sold_at, name, flag, score FROM bench"

CHILD = r"""
import json, os, resource, sys, time
variant, query, out = sys.argv[1], sys.argv[2], sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if variant == "ours":  # imports before the clock, as on a warm worker
    from airflow_mlpipelines.databases import SqlDatabase
    from airflow_mlpipelines.frames import transfer as tf
    import adbc_driver_postgresql.dbapi, pyarrow.parquet, psycopg2  # noqa: F401
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401
    from airflow.sdk import BaseHook  # noqa: F401
elif variant == "pandas":
    import pandas as pd, sqlalchemy, pyarrow  # noqa: F401
else:
    import psycopg2
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
rows = 0
if variant == "ours":
    db = SqlDatabase(os.environ["BENCH_CONN"])
    reader, closing = db.read(query, 65536)
    rows = tf.write_file(reader, out, "parquet")
    closing.close(); db.close()
elif variant == "pandas":
    engine = sqlalchemy.create_engine(os.environ["BENCH_SQLALCHEMY"])
    df = pd.read_sql(query, engine)
    df.to_parquet(out, compression="zstd", index=False)
    rows = len(df)
else:
    conn = psycopg2.connect(os.environ["BENCH_DSN"])
    with conn.cursor() as cur, open(out, "wb") as fh:
        cur.copy_expert(f"COPY ({query}) TO STDOUT", fh)
        rows = cur.rowcount
    conn.close()
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
size = os.path.getsize(out)
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": (peak - base) / 1e6, "bytes": size}))
"""


def _child(variant: str, query: str, out: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, query, str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def sql_to_parquet(rows: int, work: Path) -> None:
    pg = PostgresServer(work / "pg", database="bench")
    pg.start()
    try:
        import psycopg2

        dsn = f"host={LOOPBACK} port={pg.port} user={pg.user} password={pg.password} dbname=bench"
        t0 = time.perf_counter()
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute(TABLE.format(rows=rows))
            cur.execute("ANALYZE bench")
        conn.commit()
        conn.close()
        print(f"table of {rows:,} rows built in {time.perf_counter() - t0:.1f} s", flush=True)
        connection = {
            "conn_type": "postgres", "host": LOOPBACK, "port": pg.port, "login": pg.user,
            "password": pg.password, "schema": "bench",
        }  # fmt: skip
        env = {
            **os.environ,
            f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(connection),
            "BENCH_CONN": CONN,
            "BENCH_DSN": dsn,
            "BENCH_SQLALCHEMY": f"postgresql+psycopg2://{pg.user}:{pg.password}@{LOOPBACK}:{pg.port}/bench",
            "AIRFLOW_HOME": str(work / "airflow"),
        }
        results = {
            "COPY TO STDOUT (floor), pandas' columns": _child("copy", PANDAS_COLUMNS, work / "copy.txt", env),
            "pandas read_sql + to_parquet": _child("pandas", PANDAS_COLUMNS, work / "pandas.parquet", env),
            "ours (ADBC → Parquet), pandas' columns": _child(
                "ours", PANDAS_COLUMNS, work / "ours.parquet", env
            ),
            "COPY TO STDOUT (floor), all columns": _child("copy", ALL, work / "copy_all.txt", env),
            "ours (ADBC → Parquet), all columns": _child("ours", ALL, work / "ours_all.parquet", env),
        }
    finally:
        pg.stop()
    print(f"\nSQL → Parquet, {rows:,} rows (PostgreSQL on loopback, fresh process per variant)")
    print(f"{'variant':42} {'seconds':>8} {'Mrows/s':>8} {'peak MB':>8} {'MB out':>8}")
    for name, r in results.items():
        assert r["rows"] == rows, (name, r)
        rate = rows / r["seconds"] / 1e6
        print(f"{name:42} {r['seconds']:8.2f} {rate:8.2f} {r['peak_mb']:8.0f} {r['bytes'] / 1e6:8.0f}")
    ours, pandas = results["ours (ADBC → Parquet), pandas' columns"], results["pandas read_sql + to_parquet"]
    floor = results["COPY TO STDOUT (floor), pandas' columns"]
    ours_all, floor_all = (
        results["ours (ADBC → Parquet), all columns"],
        results["COPY TO STDOUT (floor), all columns"],
    )
    print(f"throughput vs pandas (same columns): {pandas['seconds'] / ours['seconds']:.2f}x  (goal >= 3)")
    print(f"time vs COPY (same columns): {ours['seconds'] / floor['seconds']:.2f}x  (goal <= 2)")
    print(
        f"time vs COPY (all columns, jsonb/uuid/bytea too): {ours_all['seconds'] / floor_all['seconds']:.2f}x"
    )
    print(f"peak memory, ours: {max(ours['peak_mb'], ours_all['peak_mb']):.0f} MB  (goal <= 256)")


def files(count: int, file_mb: float, work: Path, repeat: int) -> None:
    import fsspec

    src = work / "files"
    src.mkdir()
    payload = os.urandom(int(file_mb * 1e6))
    for i in range(count):
        (src / f"part-{i:05d}.bin").write_bytes(payload[i % 97 :] + payload[: i % 97])
    total = count * len(payload)
    moto = MotoServer(work / "moto")
    moto.start()
    try:
        moto.create_bucket(BUCKET)
        connection = {
            "conn_type": "aws", "login": moto.access_key, "password": moto.secret_key,
            "extra": {"endpoint_url": moto.endpoint_url, "region_name": moto.region},
        }  # fmt: skip
        os.environ[f"AIRFLOW_CONN_{S3_CONN.upper()}"] = json.dumps(connection)
        os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
        from airflow_mlpipelines.connections import AirflowStorage
        from airflow_mlpipelines.runtime import transfer_files

        storage = AirflowStorage()
        storage.resolve(f"s3://{S3_CONN}@{BUCKET}/warm")  # the connection's filesystem, as on a warm worker
        s3 = moto.filesystem()
        local = fsspec.filesystem("file")
        runs: dict[str, list[float]] = {}

        def timed(name: str, copy: Any) -> None:
            t0 = time.perf_counter()
            copy()
            runs.setdefault(name, []).append(time.perf_counter() - t0)

        def ours(url: str) -> None:
            items = transfer_files.source_files(storage.resolve(str(src)))
            transfer_files.copy_files(
                items, storage.resolve(url), as_file=False, say=lambda _: None, what="bench"
            )

        for i in range(repeat):  # interleaved, so a store that slows as it fills slows both alike
            pair = [
                (
                    "fsspec put → S3",
                    lambda i=i: s3.put(str(src) + "/", f"{BUCKET}/plain{i}/", recursive=True),
                ),
                ("ours → S3", lambda i=i: ours(f"s3://{S3_CONN}@{BUCKET}/ours{i}")),
            ]
            for name, copy in pair if i % 2 == 0 else reversed(pair):
                timed(name, copy)
            pair = [
                (
                    "fsspec copy local → local",
                    lambda i=i: local.copy(str(src), str(work / f"plain{i}"), recursive=True),
                ),
                ("ours local → local", lambda i=i: ours(str(work / f"ours{i}"))),
            ]
            for name, copy in pair if i % 2 == 0 else reversed(pair):
                timed(name, copy)
        assert len(s3.find(f"{BUCKET}/ours0")) == count
        timings = {name: statistics.median(values) for name, values in runs.items()}
    finally:
        moto.stop()
    print(f"\nfiles: {count:,} × {file_mb} MB = {total / 1e9:.2f} GB, median of {repeat}")
    print(f"{'variant':28} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in timings.items():
        print(f"{name:28} {seconds:8.2f} {total / 1e6 / seconds:8.0f}")
    s3_ratio = timings["fsspec put → S3"] / timings["ours → S3"]
    local_ratio = timings["fsspec copy local → local"] / timings["ours local → local"]
    print(f"throughput vs fsspec: to S3 {s3_ratio:.2f}x, local {local_ratio:.2f}x  (goal >= 0.9)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--file-mb", type=float, default=1.0)
    parser.add_argument("--only", choices=["sql", "files"])
    parser.add_argument("--repeat", type=int, default=3, help="file copies: medians of this many rounds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlp-bench-transfer-"))
    try:
        if args.only in (None, "sql"):
            sql_to_parquet(args.rows, work)
        if args.only in (None, "files"):
            files(args.files, args.file_mb, work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
