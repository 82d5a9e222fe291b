"""Training (seed 004's train.py): a nearest-centroid classifier, scored on every fifth row."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--prepped_data", required=True)
parser.add_argument("--training_results", required=True)
parser.add_argument("--shrink", type=float, default=0.0, help="pull centroids towards the global mean")
args = parser.parse_args()

with open(os.path.join(args.prepped_data, "prepped.csv"), newline="") as fh:
    rows = list(csv.DictReader(fh))
features = [c for c in rows[0] if c != "label"]
train = [r for i, r in enumerate(rows) if i % 5]
test = [r for i, r in enumerate(rows) if not i % 5]
mean = {c: sum(float(r[c]) for r in train) / len(train) for c in features}
centroids = {}
for label in sorted({r["label"] for r in train}):
    members = [r for r in train if r["label"] == label]
    centroids[label] = {
        c: (1 - args.shrink) * sum(float(r[c]) for r in members) / len(members) + args.shrink * mean[c]
        for c in features
    }


def predict(row):
    return min(centroids, key=lambda k: sum((float(row[c]) - centroids[k][c]) ** 2 for c in features))


accuracy = sum(predict(r) == r["label"] for r in test) / len(test)
os.makedirs(args.training_results, exist_ok=True)
with open(os.path.join(args.training_results, "model.json"), "w") as fh:
    json.dump({"centroids": centroids, "accuracy": accuracy, "shrink": args.shrink}, fh, indent=1)
print(f"accuracy={accuracy:.3f}")
