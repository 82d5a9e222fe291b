"""Summarise the exported rows (a stand-in for training): row count and column means, as JSON."""

import json
import os
import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq

data, out = sys.argv[1], sys.argv[2]
table = pq.read_table(os.path.join(data, "data.parquet"))
means = {name: pc.mean(table.column(name)).as_py() for name in table.column_names if name != "label"}
with open(os.path.join(out, "summary.json"), "w") as fh:
    json.dump({"rows": table.num_rows, "means": means}, fh, indent=2, sort_keys=True)
print(f"summarised {table.num_rows} rows")
