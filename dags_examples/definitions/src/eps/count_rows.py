"""A PythonScriptStep reading an Execute Python Script step's DataFrame output (data.parquet)."""

import argparse
import json
import os

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--table", required=True, help="folder holding data.parquet")
parser.add_argument("--output", required=True)
args = parser.parse_args()

frame = pd.read_parquet(os.path.join(args.table, "data.parquet"))
summary = {"rows": len(frame), "greetings": sorted(frame["greeting"].unique().tolist())}
with open(os.path.join(args.output, "count.json"), "w") as fh:
    json.dump(summary, fh)
print(f"counted {summary['rows']} rows: {summary['greetings']}")
