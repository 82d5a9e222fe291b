"""Write the run's parameters and the model's accuracy to report.json."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--label", required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()
with open(os.path.join(args.model, "model.json")) as fh:
    model = json.load(fh)
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "report.json"), "w") as fh:
    json.dump({"label": args.label, "epochs": args.epochs, "shrink": model["shrink"],
               "accuracy": model["accuracy"]}, fh, indent=1)
print(f"report written for {args.label}")
