"""Seeds 000/003's visualisation example (figure 8): a pandas scatter matrix saved as a PNG.

The seed's steps: switch matplotlib to the Agg backend (preset here: MPLBACKEND=Agg), make a figure,
draw on its axes, save it as a PNG in the working directory -- every PNG there is collected as the
step's visualisations output.
"""

import matplotlib.pyplot as plt
import pandas as pd
from pandas.plotting import scatter_matrix


def azureml_main(dataframe1=None, dataframe2=None):
    features = dataframe1.drop(columns=["label"])
    axes = scatter_matrix(features, figsize=(8, 8), c=dataframe1["label"], alpha=0.8)
    fig = axes[0, 0].get_figure()
    fig.savefig("scatter.png")
    plt.close(fig)
    summary = features.describe().T.reset_index().rename(columns={"index": "feature"})
    return (summary,)
