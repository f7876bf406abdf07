"""`fruits evaluate OUTPUT`: how well the run's classifiers name the Test photos: the kNN's top-1 accuracy over the
whole Test split (with its confusion matrix when it fits a terminal), then per input top-1/top-3 by label and by
kind, per-class recall and the most confused pairs (fruits.evaluation)."""

from __future__ import annotations

import argparse
import json
import sys

from .serve import add_neighbours_option


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="accuracy of a run's classifiers on its Test split, overall and per input",
        description="Classify every labelled Test photo of OUTPUT by its K nearest Training photos in the PCA "
        "space and print the top-1 accuracy (and the confusion matrix up to 12 classes). Without a Test split, "
        "each labelled photo is classified by the others (leave-one-out). Then, per input (dataset root), the "
        "scorer identify uses (the run's linear classifier, else the kNN): top-1 and top-3 by label and by kind, "
        "per-class recall and the most confused pairs.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="the folder or s3:// URI a `fruits run` wrote to")
    add_neighbours_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=handle)


# Wider than this, a confusion matrix does not fit a terminal: the most confused pairs say more.
MATRIX_MAX_CLASSES = 12


def format_report(evaluation, output: str) -> str:
    where = "the Test split" if evaluation.method == "test split" else "all labelled photos (leave-one-out)"
    lines = [
        f"top-1 accuracy on {where} of {output}: {100 * evaluation.accuracy:.2f}% "
        f"({evaluation.n_correct} of {evaluation.n} photos, k={evaluation.k} nearest references)",
    ]
    if len(evaluation.classes) > MATRIX_MAX_CLASSES:
        return "\n".join(lines + [f"({len(evaluation.classes)} classes: no confusion matrix here; --json has it)"])
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    names = list(evaluation.classes)
    width = max([len("true \\ predicted")] + [len(n) for n in names])
    cell = max(5, *(len(n) for n in names))
    lines.append("true \\ predicted".ljust(width) + "".join(f"  {n:>{cell}}" for n in names) + "  recall")
    recall = evaluation.per_class_recall()
    for i, name in enumerate(names):
        share = recall[name]
        lines.append(name.ljust(width) + "".join(f"  {int(v):>{cell}}" for v in evaluation.confusion[i])
                     + ("  " + (f"{100 * share:.1f}%" if share is not None else "-")))
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    from ..classify import assess, evaluate, validate_neighbours
    from ..evaluation import evaluate_by_input
    from ..evaluation import format_report as format_inputs
    from ..identify import FruitFacts
    from ..identify.service import load_linear_model
    from ..run_output import open_run_output

    validate_neighbours(args.neighbours)
    run = open_run_output(args.output)
    images = run.images
    evaluation = evaluate(assess(images.coords, images.labels, images.splits, args.neighbours), images.labels,
                          images.splits)
    by_input = evaluate_by_input(run, FruitFacts.load(), args.neighbours, load_linear_model(run))
    if args.json:
        json.dump({"output": args.output, **evaluation.to_dict(), "by_input": by_input.to_dict()}, sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(evaluation, args.output))
        print("\n".join(format_inputs(by_input)))
    return 0
