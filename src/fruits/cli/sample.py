"""`fruits sample DIR`: a synthetic dataset in the Fruits-360 layout (no download needed)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate a small synthetic fruit dataset in the Fruits-360 layout",
        description="Draw fruit-like photos (apple, banana, lemon, orange, raspberry) with random rotation, scale "
        "and position on a white background, 100x100 JPEG, in DIR/Training/<kind>/ and DIR/Test/<kind>/.",
    )
    parser.add_argument("directory", metavar="DIR", help="folder to write the photos into")
    parser.add_argument("--n-per-class", type=int, default=40, help="photos per fruit kind (default: 40)")
    parser.add_argument("--test-fraction", type=float, default=0.25, help="share of each kind in Test/ (default 0.25)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, same seed same photos (default: 0)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..sample import KINDS, generate_sample

    counts = generate_sample(args.directory, args.n_per_class, args.test_fraction, args.seed)
    print(f"wrote {counts['Training']} training and {counts['Test']} test photos of {len(KINDS)} kinds "
          f"({', '.join(KINDS)}) under {args.directory}")
    return 0
