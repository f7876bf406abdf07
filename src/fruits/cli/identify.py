"""`fruits identify OUTPUT PHOTO`: what fruit is in PHOTO, as JSON (the answer of POST /api/identify)."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputNotFoundError
from .serve import add_neighbours_option


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "identify",
        help="identify the fruit in a photo with a run's model and reference photos (prints JSON)",
        description="Featurize PHOTO with the run's own weights, image size and engine, project it with the "
        "run's PCA, and print the top 3 classes with scores, the most similar reference photos and an "
        "information card, as JSON. The photo is read into memory only; nothing is written.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="the folder or s3:// URI a `fruits run` wrote to")
    parser.add_argument("photo", metavar="PHOTO", help="a JPEG or PNG photo: local path or s3:// URI")
    add_neighbours_option(parser)
    parser.add_argument("--similar", type=int, default=8, metavar="N",
                        help="how many similar reference photos to list (default: 8)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..identify import Identifier
    from ..run_output import StorageError, Store, open_run_output

    store = Store()
    run = open_run_output(args.output, store)
    identifier = Identifier.for_run(run, args.neighbours)
    try:
        photo = store.read_bytes(args.photo, max_bytes=identifier.limits.max_bytes)
    except StorageError as exc:
        raise InputNotFoundError(f"cannot read PHOTO: {exc}") from None
    answer = identifier.identify(photo, top=3, similar=max(1, args.similar))
    json.dump(answer.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
