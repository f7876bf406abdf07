"""The figures' data at many classes: which kinds the map colours, what hovering says, the heatmap's shares."""

from __future__ import annotations

import numpy as np

from fruits.web.charts import MAP_PALETTE, confusion_heatmap, map_kinds, pca_map
from fruits.web.i18n import Messages


def test_few_kinds_are_all_coloured():
    assert map_kinds(["pear", "apple", None, "apple"], "pear", []) == ["apple", "pear"]


def test_many_kinds_colour_the_photo_its_neighbours_then_the_nearest():
    kinds = [f"kind{i:02d}" for i in range(30)]
    chosen = map_kinds(kinds, "kind05", ["kind07", "kind09", "kind09", None], ["kind05", "kind20", "kind21"] +
                       kinds)
    assert chosen[:5] == ["kind05", "kind09", "kind07", "kind20", "kind21"]
    assert len(chosen) == len(MAP_PALETTE) and len(set(chosen)) == len(chosen)


def test_the_map_groups_by_kind_and_names_the_variety_on_hover():
    labels = np.array(["Apple Red 1", "Apple Golden 1", "Pear", "Pear Abate", None], dtype=object)
    coords = np.arange(10, dtype=float).reshape(5, 2)
    kind_for = {"Apple Red 1": "apple", "Apple Golden 1": "apple", "Pear": "pear", "Pear Abate": "pear"}.get
    figure = pca_map(coords, labels, kind_for, 0, [1], 100, np.array([0.5, 0.2]),
                     np.array(list("abcde"), dtype=object), Messages("fr"))
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert list(traces) == ["Pomme", "Poire", "sans étiquette", "Ses photos les plus semblables", "Cette photo"]
    assert traces["Pomme"]["text"] == ["Apple Red 1 (pomme)", "Apple Golden 1 (pomme)"]
    assert traces["Poire"]["text"] == ["Pear (poire)", "Pear Abate (poire)"]
    assert traces["Pomme"]["marker"]["color"] != traces["Poire"]["marker"]["color"]
    assert "50\u00a0%" in figure["layout"]["xaxis"]["title"]["text"]


def test_the_heatmap_holds_shares_of_each_true_class_and_the_counts_for_hover():
    figure = confusion_heatmap(("a", "b"), np.array([[3, 1], [0, 0]]), Messages("en"))
    heatmap = figure["data"][0]
    assert heatmap["z"] == [[0.75, 0.25], [0.0, 0.0]] and heatmap["customdata"] == [[3, 1], [0, 0]]
    assert "texttemplate" not in heatmap and figure["layout"]["xaxis"]["showticklabels"] is True
    many = confusion_heatmap([str(i) for i in range(114)], np.eye(114, dtype=int), Messages("en"))
    assert many["layout"]["xaxis"]["showticklabels"] is False and many["layout"]["height"] <= 760
