"""Model comparison (seed 004's compare step): pick the most accurate of the trained models."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--models", nargs="+", required=True, help="folders holding model.json")
parser.add_argument("--output", required=True)
args = parser.parse_args()

scores = {}
for folder in args.models:
    with open(os.path.join(folder, "model.json")) as fh:
        scores[os.path.basename(os.path.normpath(folder))] = json.load(fh)["accuracy"]
best = max(scores, key=scores.get)
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "comparison.json"), "w") as fh:
    json.dump({"scores": scores, "best": best}, fh, indent=1)
print(f"best model: {best} ({scores[best]:.3f})")
