"""Plotly figures as plain JSON-able dicts ({"data": [...], "layout": {...}}), drawn in the page by the
plotly.js the app serves itself. Histograms are binned here, so a page carries a few dozen bars, not one
value per photo, however large the run."""

from __future__ import annotations

import numpy as np

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#999999")
ITEM_COLOUR = "#111111"
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


def class_colours(classes) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}


def _layout(**extra) -> dict:
    base = {"font": _FONT, "margin": {"l": 48, "r": 16, "t": 32, "b": 44}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)", "legend": {"orientation": "h", "y": -0.3}}
    base.update(extra)
    return base


def score_colour(score: float) -> str:
    """The colour of a score band, the same as the badges of the pages (green = very likely ... red = unsure)."""
    if score >= 0.9:
        return "#1b7f3b"
    if score >= 0.7:
        return "#6a8d13"
    if score >= 0.5:
        return "#b86e00"
    return "#b3261e"


def score_gauge(score: float) -> dict:
    return {
        "data": [{
            "type": "indicator", "mode": "gauge+number", "value": round(100 * score, 1),
            "number": {"suffix": "%", "valueformat": ".0f"},
            "gauge": {
                "axis": {"range": [0, 100], "ticksuffix": "%"},
                "bar": {"color": score_colour(score)},
                "steps": [{"range": [0, 50], "color": "#f6d5d5"}, {"range": [50, 70], "color": "#fbe7c6"},
                          {"range": [70, 90], "color": "#eef3c9"}, {"range": [90, 100], "color": "#d3efd6"}],
            },
        }],
        "layout": _layout(height=200, margin={"l": 52, "r": 60, "t": 16, "b": 8}),
        "config": {"staticPlot": True},  # nothing to zoom or hover in a gauge
    }


def distribution(title: str, values: np.ndarray, item_value: float | None, group_values: np.ndarray,
                 group_name: str, neighbour_values: np.ndarray, edges: np.ndarray, x_title: str,
                 bar_colours: list[str] | None = None, percent_axis: bool = False) -> dict:
    """Where one photo sits: share of all photos and of its group per bin, its neighbours as ticks, itself as
    a line. `values` may hold NaN for photos without a value (unreadable photo, grey has no hue)."""
    def shares(sample: np.ndarray) -> list[float]:
        sample = sample[np.isfinite(sample)]
        counts, _ = np.histogram(sample, bins=edges)
        return (100.0 * counts / max(1, len(sample))).round(2).tolist()

    centres = ((edges[:-1] + edges[1:]) / 2)
    scale = 100.0 if percent_axis else 1.0
    x = (centres * scale).round(3).tolist()
    width = float((edges[1] - edges[0]) * scale)
    data = [
        {"type": "bar", "name": "All photos", "x": x, "y": shares(values), "width": width,
         "marker": {"color": bar_colours or "#b8b8b8", "opacity": 0.55 if bar_colours else 0.9},
         "hovertemplate": "%{y:.1f}% of all photos<extra></extra>"},
        {"type": "bar", "name": group_name, "x": x, "y": shares(group_values), "width": width * 0.45,
         "marker": {"color": "#0072B2"}, "hovertemplate": "%{y:.1f}% of " + group_name + "<extra></extra>"},
    ]
    finite = neighbour_values[np.isfinite(neighbour_values)]
    if len(finite):
        data.append({"type": "scatter", "mode": "markers", "name": "Its most similar photos",
                     "x": (finite * scale).round(3).tolist(), "y": [0] * len(finite),
                     "marker": {"symbol": "line-ns-open", "size": 16, "color": "#D55E00", "line": {"width": 2}},
                     "hovertemplate": "a similar photo: %{x}<extra></extra>", "cliponaxis": False})
    shapes, annotations = [], []
    if item_value is not None and np.isfinite(item_value):
        position = round(float(item_value) * scale, 3)
        shapes.append({"type": "line", "x0": position, "x1": position, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": ITEM_COLOUR, "width": 3, "dash": "dot"}})
        # Anchored away from the nearer edge, so the label stays inside the chart.
        middle = (edges[0] + edges[-1]) / 2 * scale
        annotations.append({"x": position, "yref": "paper", "y": 1.08, "text": "this photo", "showarrow": False,
                            "xanchor": "right" if position > middle else "left", "font": {"color": ITEM_COLOUR}})
    return {"data": data, "layout": _layout(
        title={"text": title, "x": 0, "font": {"size": 14}}, height=320, barmode="overlay", bargap=0.05,
        margin={"l": 48, "r": 16, "t": 40, "b": 120}, legend={"orientation": "h", "y": -0.42, "x": 0},
        xaxis={"title": {"text": x_title}, "range": [float(edges[0] * scale), float(edges[-1] * scale)]},
        yaxis={"title": {"text": "% of photos"}, "rangemode": "tozero"}, shapes=shapes, annotations=annotations)}


def hue_colours(edges: np.ndarray) -> list[str]:
    return [f"hsl({(a + b) / 2:.0f},70%,50%)" for a, b in zip(edges[:-1], edges[1:])]


def _decimals_for(values: np.ndarray) -> int:
    """Enough decimals to keep 4 significant digits of the spread: PCA coordinates of a run with random
    weights span thousandths, those of a pretrained model tens."""
    spread = float(np.ptp(values)) if values.size else 0.0
    return 3 if spread <= 0 or not np.isfinite(spread) else int(max(0, 3 - np.floor(np.log10(spread))))


def pca_map(coords: np.ndarray, labels: np.ndarray, classes, item_row: int | None, neighbour_rows: list[int],
            max_points: int, variance: np.ndarray, ids: np.ndarray) -> dict:
    """The first two PCA axes: one dot per photo by class, the photo and its neighbours highlighted."""
    n = len(coords)
    shown = np.arange(n)
    if n > max_points:  # a fixed sample, so the map does not change between reloads
        shown = np.sort(np.random.default_rng(0).choice(n, max_points, replace=False))
    colours = class_colours(classes)
    places = _decimals_for(coords[:, :2])
    coords = coords[:, :2].round(places)
    data = []
    for name in list(classes) + [None]:
        rows = shown[np.asarray([labels[r] == name for r in shown], dtype=bool)]
        if len(rows) == 0:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": name or "no label",
                     "x": coords[rows, 0].tolist(), "y": coords[rows, 1].tolist(),
                     "customdata": ids[rows].tolist(),
                     "marker": {"size": 5, "opacity": 0.45, "color": colours.get(name, "#999999")},
                     "hovertemplate": f"{name or 'no label'}<extra></extra>"})
    if neighbour_rows:
        rows = np.asarray(neighbour_rows)
        data.append({"type": "scatter", "mode": "markers", "name": "Its most similar photos",
                     "x": coords[rows, 0].tolist(), "y": coords[rows, 1].tolist(),
                     "customdata": ids[rows].tolist(),
                     "marker": {"size": 11, "symbol": "circle-open", "color": "#D55E00", "line": {"width": 2}},
                     "hovertemplate": "a similar photo<extra></extra>"})
    if item_row is not None:
        data.append({"type": "scatter", "mode": "markers", "name": "This photo",
                     "x": [float(coords[item_row, 0])], "y": [float(coords[item_row, 1])],
                     "marker": {"size": 18, "symbol": "star", "color": ITEM_COLOUR,
                                "line": {"width": 1, "color": "#ffffff"}},
                     "hovertemplate": "this photo<extra></extra>"})
    axis = lambda i: {"title": {"text": f"axis {i + 1} ({100 * variance[i]:.0f}% of the variation)"},  # noqa: E731
                      "zeroline": False}
    return {"data": data, "layout": _layout(height=420, xaxis=axis(0), yaxis=axis(1), hovermode="closest")}


def confusion_heatmap(classes, matrix: np.ndarray) -> dict:
    names = list(classes)
    return {
        "data": [{"type": "heatmap", "z": matrix.tolist(), "x": names, "y": names, "colorscale": "Blues",
                  "texttemplate": "%{z}", "showscale": False,
                  "hovertemplate": "true %{y}, predicted %{x}: %{z} photos<extra></extra>"}],
        "layout": _layout(height=120 + 48 * len(names), margin={"l": 110, "r": 16, "t": 16, "b": 80},
                          xaxis={"title": {"text": "predicted class"}, "side": "bottom"},
                          yaxis={"title": {"text": "true class"}, "autorange": "reversed"}),
    }
