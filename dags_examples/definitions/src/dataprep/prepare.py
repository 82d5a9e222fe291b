"""Data preparation (seed 004's prepare.py): drop incomplete rows and scale features to [0, 1]."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="CSV file of raw measurements")
parser.add_argument("--output", required=True, help="folder to write prepped.csv into")
args = parser.parse_args()

with open(args.input, newline="") as fh:
    rows = [r for r in csv.DictReader(fh) if all(v != "" for v in r.values())]
features = [c for c in rows[0] if c != "label"]
lo = {c: min(float(r[c]) for r in rows) for c in features}
hi = {c: max(float(r[c]) for r in rows) for c in features}
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "prepped.csv"), "w", newline="") as fh:
    writer = csv.DictWriter(fh, fieldnames=[*features, "label"])
    writer.writeheader()
    for r in rows:
        scaled = {c: round((float(r[c]) - lo[c]) / ((hi[c] - lo[c]) or 1.0), 6) for c in features}
        writer.writerow({**scaled, "label": r["label"]})
with open(os.path.join(args.output, "stats.json"), "w") as fh:
    json.dump({"rows": len(rows), "features": features}, fh)
print(f"prepared {len(rows)} rows with {len(features)} features")
