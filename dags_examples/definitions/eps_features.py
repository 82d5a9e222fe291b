"""Seeds 000/003's feature-importance example as Python definitions with SDK-v1-style names.

# [START eps_features]
"""

from __future__ import annotations

from airflow_mlpipelines.pipeline import ExecutePythonScriptStep, Pipeline

# No input port connected: azureml_main takes no DataFrame (the seed's mapping, zero inputs).
LOAD_SCRIPT = """
from sklearn.datasets import load_diabetes


def azureml_main():
    return load_diabetes(as_frame=True, scaled=False).frame,
"""

load_step = ExecutePythonScriptStep(name="load_diabetes", script=LOAD_SCRIPT)

rank_step = ExecutePythonScriptStep(
    name="rank_features",
    script_file="rank_features.py",
    source_directory="src/eps",
    dataframe1=load_step.dataframe_output,  # the upstream step's DataFrame output
    dataframe_output="ranked_features",
    visualizations_output="importance_plots",
)

pipeline = Pipeline(
    steps=[rank_step],  # load_diabetes is pulled in as the producer of its input
    name="eps_features",
    description="Rank the diabetes features by ExtraTrees importance (seeds 000/003).",
    tags=["example", "execute_python_script"],
)
# [END eps_features]
