"""`fruits evaluate`'s report: per input of the run, top-1 and top-3 by label and by kind of fruit, per-class recall
and the most confused pairs, for the scorer identify uses (the run's linear classifier, else the kNN).

An input is the dataset root a photo came from: one of the manifest's `inputs` when the run lists several, else
the first folder of the photo's path under the run's INPUT (a run over a folder holding `fruits-360-114/` and
`grocery-store-fruit/` gives those two; a plain Fruits-360 layout gives `Training` and `Test`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .classify import TEST, KnnClassifier, LinearModel, reference_mask
from .outputs import Manifest

FRUITS360_WARNING = ("Fruits-360 Test photos are frames of the same videos as its Training photos (near-duplicates): "
                     "its accuracy says little about a real photo; the grocery photos do")


def plain_uri(uri: str) -> str:
    """'file:///a/b/' and '/a/b' compare equal."""
    text = str(uri)
    if text.startswith("file:"):
        text = "/" + text[len("file:"):].lstrip("/")
    return text.rstrip("/")


def sources_of(paths, input_uris) -> list[str]:
    """The input name of each photo path, given the run's INPUT locations (see the module's docstring). Pure, so
    the classify stage of `fruits run` (fruits.spark.classifier) groups photos by input exactly as this report."""
    roots = sorted((plain_uri(uri) for uri in input_uris), key=len, reverse=True)
    paths = [plain_uri(p) for p in paths]
    if len(roots) > 1:
        names = []
        for path in paths:
            root = next((r for r in roots if path.startswith(r + "/")), None)
            names.append(root.rsplit("/", 1)[-1] if root else "other")
        return names
    base = roots[0] if roots else ""
    names = []
    for path in paths:
        rest = path[len(base) + 1:] if base and path.startswith(base + "/") else path.lstrip("/")
        names.append(rest.split("/", 1)[0] if "/" in rest else "(top folder)")
    return names


def inputs_of(run) -> np.ndarray:
    """(n,) the input name of every photo of the run (see the module's docstring)."""
    return np.asarray(sources_of(run.images.paths, run.manifest.input_uris), dtype=object)


@dataclass
class InputReport:
    input: str
    n: int
    label_top1: float
    label_top3: float
    kind_top1: float
    kind_top3: float
    per_class_recall: dict[str, float]
    confused_pairs: list[dict]  # [{true, predicted, count}], most frequent first
    confused_kinds: list[dict]
    warning: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Report:
    method: str
    n_references: int
    inputs: list[InputReport] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"method": self.method, "n_references": self.n_references,
                "inputs": [r.to_dict() for r in self.inputs],
                "warnings": sorted({r.warning for r in self.inputs if r.warning})}


def _ranked_kinds(scores: np.ndarray, classes, kind_of) -> list[list[str]]:
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        totals: dict[str, float] = {}
        for c in order:
            kind = kind_of(classes[c]) or classes[c]
            totals[kind] = totals.get(kind, 0.0) + float(row[c])
        out.append(sorted(totals, key=lambda k: -totals[k]))
    return out


def evaluate_by_input(run, facts, neighbours: int, linear: LinearModel | None, pairs: int = 10) -> Report:
    """Every labelled Test photo of each input, scored against the run's references (never against itself)."""
    images = run.images
    references = reference_mask(images.labels, images.splits)
    ref_rows = np.nonzero(references)[0]
    if linear is not None:
        classes, method = linear.classes, "logistic regression (the run's classifier/)"
        score = linear.probabilities
    else:
        knn = KnnClassifier(images.coords[ref_rows], list(images.labels[ref_rows]), neighbours)
        classes, method = knn.classes, f"kNN (k={knn.k})"
        score = lambda coords: knn.classify(coords).scores  # noqa: E731
    names = inputs_of(run)
    test = np.asarray([s == TEST and label is not None for s, label in zip(images.splits, images.labels)])
    if not test.any():  # no Test split: every labelled photo that is not a reference (none: report nothing)
        test = np.asarray([label is not None for label in images.labels]) & ~references
    report = Report(method, int(len(ref_rows)))
    for name in sorted(set(names[test])):
        rows = np.nonzero(test & (names == name))[0]
        scores = np.concatenate([score(images.coords[rows[i:i + 2048]]) for i in range(0, len(rows), 2048)])
        truth = [str(t) for t in images.labels[rows]]
        order = np.argsort(-scores, axis=1, kind="stable")[:, :3]
        top_labels = [[classes[c] for c in row] for row in order]
        kinds = _ranked_kinds(scores, classes, facts.kind_for)
        truth_kinds = [facts.kind_for(t) or t for t in truth]
        recall_hits: Counter = Counter()
        totals: Counter = Counter()
        confused: Counter = Counter()
        confused_kinds: Counter = Counter()
        for t, tk, labels_, kinds_ in zip(truth, truth_kinds, top_labels, kinds):
            totals[t] += 1
            if labels_[0] == t:
                recall_hits[t] += 1
            else:
                confused[(t, labels_[0])] += 1
            if kinds_[0] != tk:
                confused_kinds[(tk, kinds_[0])] += 1
        fruits360 = "fruits-360" in name.lower() or "fruits360" in name.lower()
        report.inputs.append(InputReport(
            input=name, n=len(rows),
            label_top1=float(np.mean([row[0] == t for row, t in zip(top_labels, truth)])),
            label_top3=float(np.mean([t in row for row, t in zip(top_labels, truth)])),
            kind_top1=float(np.mean([row[0] == t for row, t in zip(kinds, truth_kinds)])),
            kind_top3=float(np.mean([t in row[:3] for row, t in zip(kinds, truth_kinds)])),
            per_class_recall=dict(sorted(((c, recall_hits[c] / totals[c]) for c in totals), key=lambda kv: kv[1])),
            confused_pairs=[{"true": t, "predicted": p, "count": n} for (t, p), n in confused.most_common(pairs)],
            confused_kinds=[{"true": t, "predicted": p, "count": n} for (t, p), n in confused_kinds.most_common(pairs)],
            warning=FRUITS360_WARNING if fruits360 else None,
        ))
    return report


def format_report(report: Report, recall_lines: int = 8) -> list[str]:
    lines = [f"per input ({report.method}, {report.n_references} reference photos):"]
    for r in report.inputs:
        lines.append(f"  {r.input}: {r.n} Test photos | label top-1 {100 * r.label_top1:.1f}%, top-3 "
                     f"{100 * r.label_top3:.1f}% | kind top-1 {100 * r.kind_top1:.1f}%, top-3 {100 * r.kind_top3:.1f}%")
        worst = list(r.per_class_recall.items())[:recall_lines]
        if worst:
            lines.append("    lowest recall: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in worst))
        if r.confused_pairs:
            lines.append("    most confused: " + ", ".join(
                f"{p['true']} -> {p['predicted']} ({p['count']})" for p in r.confused_pairs))
        if r.confused_kinds:
            lines.append("    kinds confused: " + ", ".join(
                f"{p['true']} -> {p['predicted']} ({p['count']})" for p in r.confused_kinds))
        if r.warning:
            lines.append(f"    WARNING: {r.warning}")
    return lines
