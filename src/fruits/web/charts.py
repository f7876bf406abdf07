"""Plotly figures as plain JSON-able dicts ({"data": [...], "layout": {...}}), drawn in the page by the
plotly.js the app serves itself. Histograms are binned here, so a page carries a few dozen bars, not one
value per photo, however large the run."""

from __future__ import annotations

import numpy as np

from .i18n import Messages

ITEM_COLOUR = "#111111"
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


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


def _percent_suffix(t: Messages) -> str:
    return "\u00a0%" if t.language == "fr" else "%"


def _plotly_separators(t: Messages) -> str:
    """Plotly's decimal and thousands signs for the page's language ("93.6" / "93,6")."""
    return ", " if t.language == "fr" else ".,"


def score_gauge(score: float, t: Messages) -> dict:
    return {
        "data": [{
            "type": "indicator", "mode": "gauge+number", "value": round(100 * score, 1),
            "number": {"suffix": _percent_suffix(t), "valueformat": ".0f"},
            "gauge": {
                "axis": {"range": [0, 100], "ticksuffix": _percent_suffix(t)},
                "bar": {"color": score_colour(score)},
                "steps": [{"range": [0, 50], "color": "#f6d5d5"}, {"range": [50, 70], "color": "#fbe7c6"},
                          {"range": [70, 90], "color": "#eef3c9"}, {"range": [90, 100], "color": "#d3efd6"}],
            },
        }],
        "layout": _layout(height=200, margin={"l": 52, "r": 60, "t": 16, "b": 8}, separators=_plotly_separators(t)),
        "config": {"staticPlot": True},  # nothing to zoom or hover in a gauge
    }


def distribution(title: str, values: np.ndarray, item_value: float | None, group_values: np.ndarray,
                 group_name: str, neighbour_values: np.ndarray, edges: np.ndarray, x_title: str, t: Messages,
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
    share = "%{y:.1f}" + _percent_suffix(t)
    data = [
        {"type": "bar", "name": t.gettext("All photos"), "x": x, "y": shares(values), "width": width,
         "marker": {"color": bar_colours or "#b8b8b8", "opacity": 0.55 if bar_colours else 0.9},
         "hovertemplate": t.gettext("%(share)s of all photos", share=share) + "<extra></extra>"},
        {"type": "bar", "name": group_name, "x": x, "y": shares(group_values), "width": width * 0.45,
         "marker": {"color": "#0072B2"},
         "hovertemplate": t.gettext("%(share)s of %(group)s", share=share, group=group_name) + "<extra></extra>"},
    ]
    finite = neighbour_values[np.isfinite(neighbour_values)]
    if len(finite):
        data.append({"type": "scatter", "mode": "markers", "name": t.gettext("Its most similar photos"),
                     "x": (finite * scale).round(3).tolist(), "y": [0] * len(finite),
                     "marker": {"symbol": "line-ns-open", "size": 16, "color": "#D55E00", "line": {"width": 2}},
                     "hovertemplate": t.gettext("a similar photo: %(value)s", value="%{x}") + "<extra></extra>",
                     "cliponaxis": False})
    shapes, annotations = [], []
    if item_value is not None and np.isfinite(item_value):
        position = round(float(item_value) * scale, 3)
        shapes.append({"type": "line", "x0": position, "x1": position, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": ITEM_COLOUR, "width": 3, "dash": "dot"}})
        # Anchored away from the nearer edge, so the label stays inside the chart.
        middle = (edges[0] + edges[-1]) / 2 * scale
        annotations.append({"x": position, "yref": "paper", "y": 1.08, "text": t.gettext("this photo"),
                            "showarrow": False, "xanchor": "right" if position > middle else "left",
                            "font": {"color": ITEM_COLOUR}})
    return {"data": data, "layout": _layout(
        title={"text": title, "x": 0, "font": {"size": 14}}, height=320, barmode="overlay", bargap=0.05,
        margin={"l": 48, "r": 16, "t": 40, "b": 120}, legend={"orientation": "h", "y": -0.42, "x": 0},
        xaxis={"title": {"text": x_title}, "range": [float(edges[0] * scale), float(edges[-1] * scale)]},
        yaxis={"title": {"text": t.gettext("%% of photos")}, "rangemode": "tozero"}, shapes=shapes,
        annotations=annotations, separators=_plotly_separators(t))}


def hue_colours(edges: np.ndarray) -> list[str]:
    return [f"hsl({(a + b) / 2:.0f},70%,50%)" for a, b in zip(edges[:-1], edges[1:])]


def _decimals_for(values: np.ndarray) -> int:
    """Enough decimals to keep 4 significant digits of the spread: PCA coordinates of a run with random
    weights span thousandths, those of a pretrained model tens."""
    spread = float(np.ptp(values)) if values.size else 0.0
    return 3 if spread <= 0 or not np.isfinite(spread) else int(max(0, 3 - np.floor(np.log10(spread))))


OTHER_KINDS = "#c4c4c4"
# The map's kinds: Tableau 10 without its grey, so no kind looks like "other kinds".
MAP_PALETTE = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F")


def map_kinds(kinds: list[str | None], item_kind: str | None, neighbour_kinds: list[str | None],
              nearest_kinds: list[str] = ()) -> list[str]:
    """The kinds that get a colour and a legend entry on the map, at most len(MAP_PALETTE): all of them when they
    fit, else the photo's own kind, then its neighbours' kinds (most frequent first), then the kinds whose
    clouds are nearest on the map (`nearest_kinds`, nearest first). The others share one grey."""
    present = sorted({k for k in kinds if k is not None})
    if len(present) <= len(MAP_PALETTE):
        return present
    chosen: list[str] = []
    frequency = {k: neighbour_kinds.count(k) for k in set(neighbour_kinds) if k is not None}
    for kind in [item_kind] + sorted(frequency, key=lambda k: (-frequency[k], k)) + list(nearest_kinds):
        if kind in present and kind not in chosen and len(chosen) < len(MAP_PALETTE):
            chosen.append(kind)
    return chosen


def _kinds_by_distance(coords: np.ndarray, kinds: list[str | None], rows: np.ndarray, origin: np.ndarray) -> list[str]:
    """Kinds ordered by how close the centre of their cloud is to `origin` on the map's two axes."""
    centres: dict[str, list[int]] = {}
    for r in rows:
        if kinds[r] is not None:
            centres.setdefault(kinds[r], []).append(int(r))
    distance = {k: float(np.linalg.norm(coords[members, :2].mean(axis=0) - origin)) for k, members in centres.items()}
    return sorted(distance, key=lambda k: (distance[k], k))


def pca_map(coords: np.ndarray, labels: np.ndarray, kind_for, item_row: int | None, neighbour_rows: list[int],
            max_points: int, variance: np.ndarray, ids: np.ndarray, t: Messages) -> dict:
    """The first two PCA axes: one dot per photo coloured by its kind of fruit (the variety on hover), the photo
    and its neighbours highlighted. `kind_for(label)` gives a label's kind (None when unknown)."""
    n = len(coords)
    shown = np.arange(n)
    if n > max_points:  # a fixed sample, so the map does not change between reloads
        shown = np.sort(np.random.default_rng(0).choice(n, max_points, replace=False))
    label_kind = {label: kind_for(label) if label is not None else None for label in set(labels.tolist())}
    kinds = [label_kind[labels[r]] for r in range(n)]
    nearest = _kinds_by_distance(coords, kinds, shown, coords[item_row, :2]) if item_row is not None else []
    coloured = map_kinds([kinds[r] for r in shown], kinds[item_row] if item_row is not None else None,
                         [kinds[r] for r in neighbour_rows], nearest)
    colours = {kind: MAP_PALETTE[i] for i, kind in enumerate(coloured)}
    places = _decimals_for(coords[:, :2])
    coords = coords[:, :2].round(places)
    no_label = t.gettext("no label")

    def hover(r: int) -> str:
        label, kind = labels[r], kinds[r]
        if label is None:
            return no_label
        if kind is None or t.kind(kind).lower() == str(label).lower():  # "lemon (lemon)" says nothing more
            return str(label)
        return f"{label} ({t.kind(kind)})"

    groups: dict[str, list[int]] = {}
    for r in shown:
        kind = kinds[r]
        key = kind if kind in colours else ("\0none" if labels[r] is None else "\0other")
        groups.setdefault(key, []).append(int(r))
    data = []
    for key in coloured + ["\0other", "\0none"]:
        rows = np.asarray(groups.get(key, []), dtype=np.int64)
        if len(rows) == 0:
            continue
        name = {"\0other": t.gettext("other kinds"), "\0none": no_label}.get(key) or t.kind(key).capitalize()
        data.append({"type": "scatter", "mode": "markers", "name": name,
                     "x": coords[rows, 0].tolist(), "y": coords[rows, 1].tolist(),
                     "customdata": ids[rows].tolist(), "text": [hover(r) for r in rows],
                     "marker": {"size": 6 if key in colours else 5, "opacity": 0.7 if key in colours else 0.35,
                                "color": colours.get(key, OTHER_KINDS)},
                     "hovertemplate": "%{text}<extra></extra>"})
    if neighbour_rows:
        rows = np.asarray(neighbour_rows)
        data.append({"type": "scatter", "mode": "markers", "name": t.gettext("Its most similar photos"),
                     "x": coords[rows, 0].tolist(), "y": coords[rows, 1].tolist(),
                     "customdata": ids[rows].tolist(), "text": [hover(r) for r in rows],
                     "marker": {"size": 11, "symbol": "circle-open", "color": "#D55E00", "line": {"width": 2}},
                     "hovertemplate": t.gettext("a similar photo: %(name)s", name="%{text}") + "<extra></extra>"})
    if item_row is not None:
        data.append({"type": "scatter", "mode": "markers", "name": t.gettext("This photo"),
                     "x": [float(coords[item_row, 0])], "y": [float(coords[item_row, 1])],
                     "text": [hover(item_row)],
                     "marker": {"size": 18, "symbol": "star", "color": ITEM_COLOUR,
                                "line": {"width": 1, "color": "#ffffff"}},
                     "hovertemplate": t.gettext("this photo: %(name)s", name="%{text}") + "<extra></extra>"})

    def axis(i: int) -> dict:
        return {"title": {"text": t.gettext("axis %(number)s (%(share)s of the variation)", number=i + 1,
                                            share=t.percent(float(variance[i])))}, "zeroline": False}

    return {"data": data, "layout": _layout(height=460, xaxis=axis(0), yaxis=axis(1), hovermode="closest",
                                            legend={"orientation": "h", "y": -0.2, "x": 0, "itemsizing": "constant"},
                                            margin={"l": 48, "r": 16, "t": 16, "b": 44},
                                            separators=_plotly_separators(t))}


# Light for a few photos, dark for all of them: a class confused in 1 photo of 30 still shows.
_HEAT = [[0.0, "#ffffff"], [0.02, "#e3eef8"], [0.1, "#a6cbe5"], [0.3, "#4a90c8"], [1.0, "#08306b"]]


def confusion_heatmap(classes, matrix: np.ndarray, t: Messages) -> dict:
    """A compact heatmap of the confusion matrix, each row as shares of its true class, without numbers in its
    cells and without class names on its axes beyond a few dozen classes (hovering a cell names both)."""
    names = list(classes)
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0).round(3)
    labelled = len(names) <= 30
    axis = {"showticklabels": labelled, "ticks": "", "showgrid": False, "zeroline": False}
    side = 120 + 16 * len(names) if labelled else 520
    return {
        "data": [{"type": "heatmap", "z": shares.tolist(), "x": names, "y": names, "customdata": matrix.tolist(),
                  "colorscale": _HEAT, "zmin": 0, "zmax": 1, "showscale": False, "xgap": 0, "ygap": 0,
                  "hovertemplate": t.gettext("%(true)s taken for %(predicted)s: %(count)s photos (%(share)s)",
                                             true="%{y}", predicted="%{x}", count="%{customdata}",
                                             share="%{z:.0%}") + "<extra></extra>"}],
        "layout": _layout(height=min(side, 760), margin={"l": 110 if labelled else 36, "r": 8, "t": 8,
                                                         "b": 80 if labelled else 36},
                          xaxis={**axis, "title": {"text": t.gettext("predicted class")}, "side": "bottom"},
                          yaxis={**axis, "title": {"text": t.gettext("true class")}, "autorange": "reversed"},
                          separators=_plotly_separators(t)),
    }
