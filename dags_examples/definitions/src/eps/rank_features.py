"""Seeds 000/003's advanced example (figure 10): rank features by an ensemble's importance scores.

The seed scores the "Pima Indian Diabetes" dataset's features with a scikit-learn ensemble so that a
supervised feature selection can follow; here the diabetes data set scikit-learn ships stands in
(nothing is downloaded at run time). The bar chart is left open on purpose: figures still open when
azureml_main returns are saved as figure_<n>.png with the visualisations.
"""

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.ensemble import ExtraTreesRegressor


def azureml_main(dataframe1):
    features = dataframe1.drop(columns=["target"])
    forest = ExtraTreesRegressor(n_estimators=100, random_state=0)
    forest.fit(features, dataframe1["target"])
    ranked = pd.DataFrame({"feature": features.columns, "score": forest.feature_importances_})
    ranked = ranked.sort_values("score", ascending=False, ignore_index=True)
    ranked["rank"] = range(1, len(ranked) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(ranked["feature"][::-1], ranked["score"][::-1])
    ax.set_xlabel("importance score")
    ax.set_title("Feature importance (ExtraTreesRegressor)")
    fig.tight_layout()
    return (ranked,)
