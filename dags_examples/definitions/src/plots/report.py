"""Per-label summary of the prepared measurements as a Parquet DataFrame, and two figures saved as PNG."""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # no display: render to files

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from airflow_mlpipelines.core import Run  # noqa: E402  (SDK v1: from azureml.core import Run)

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="folder holding prepped.csv")
parser.add_argument("--table", required=True)
parser.add_argument("--plots", required=True)
args = parser.parse_args()

data = pd.read_csv(os.path.join(args.input, "prepped.csv"))
summary = data.groupby("label").agg(["mean", "std"])
summary.columns = [f"{column}_{stat}" for column, stat in summary.columns]
summary = summary.reset_index()
summary.to_parquet(os.path.join(args.table, "data.parquet"), index=False)
print(f"summary: {summary.shape[0]} rows x {summary.shape[1]} columns")
run = Run.get_context()
run.log("rows", len(data))
run.log("labels", int(data["label"].nunique()))
run.tag("figures", 2)

fig, ax = plt.subplots(figsize=(6, 4))
for label, group in data.groupby("label"):
    ax.scatter(group["petal_length"], group["petal_width"], label=f"label {label}", s=18)
ax.set_xlabel("petal_length")
ax.set_ylabel("petal_width")
ax.set_title("Petals by label")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(args.plots, "petals.png"), dpi=80)

fig, ax = plt.subplots(figsize=(6, 4))
data["sepal_length"].plot.hist(ax=ax, bins=15, color="#4c72b0")
ax.set_xlabel("sepal_length")
ax.set_title("Sepal length")
fig.tight_layout()
fig.savefig(os.path.join(args.plots, "sepal_length.png"), dpi=80)
print("figures: petals.png, sepal_length.png")
