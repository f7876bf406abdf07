"""Draw the figures of the docs and the slides from files the repo generates (nothing pasted by hand).

    python docs/make_figures.py --run OUTPUT --bench BENCH_JSON [--out docs/figures]

- architecture.png: the bricks and the data flow (drawn here, from the table below);
- variance_curve.png: cumulative explained variance of a `fruits run` OUTPUT (its pca_model/), k marked;
- benchmark.png: the table printed by `benchmarks/featurize.py --json BENCH_JSON`.
`make figures` runs the pipeline on the shared sample and the benchmark, then this script.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

# (key, text, x, y, width, height, colour): boxes of the architecture drawing, in axes units (0..100).
BOXES = [
    ("laptop", "Laptop\nfruits cloud init / upload / run\n(credentials: AWS chain)", 1, 72, 23, 16, "#eeeeee"),
    ("s3", "S3 bucket (EU region)\nprivate · encrypted · TLS only · versioned\ndata/  code/  out/  logs/", 33, 72, 34,
     16, "#fff2cc"),
    ("serve", "fruits serve\ndashboard + identify\n(reads out/, keeps no upload)", 76, 72, 23, 16, "#e2f0d9"),
    ("driver", "Spark driver (YARN container)\nweights loaded once -> LiteRT\nbroadcast · PCA fit · manifest", 33, 34,
     34, 16, "#dae8fc"),
    ("iam", "IAM roles:\nEMR service role;\nnodes -> this\nbucket only", 41, 6, 18, 14, "#f8cecc"),
    ("exec1", "Executor + Python worker\ndecode · MobileNetV2 once per worker\nproject · write Parquet/CSV", 6, 5, 32,
     16, "#dae8fc"),
    ("exec2", "Executor + Python worker\n(core / task nodes)", 62, 5, 32, 16, "#dae8fc"),
]
# (x0, y0, x1, y1, label, label x, label y, curvature)
ARROWS = [
    (24, 80, 33, 80, "photos,\nwheel", 25.5, 82.5, 0.0),
    (67, 80, 76, 80, "results", 68.5, 81.5, 0.0),
    (46, 72, 46, 50, "weights\n(read once)", 47, 64.5, 0.0),
    (42, 34, 26, 21, "broadcast\nmodel", 25, 27, 0.0),
    (58, 34, 74, 21, "", 0, 0, 0.0),
    (12, 21, 35, 72, "photos in;\nfeatures, pca out", 4, 45, -0.25),
    (88, 21, 65, 72, "", 0, 0, 0.25),
]


def architecture(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12, 7))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 92)
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((2, 1.5), 96, 61, boxstyle="round,pad=0.5", fc="#f5f9ff", ec="#6c8ebf", lw=1.5,
                                ls="--"))
    ax.text(50, 60.5, "EMR cluster (same EU region) · YARN · auto-termination", ha="center", va="top", fontsize=10,
            color="#335")
    for _key, text, x, y, w, h, colour in BOXES:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4", fc=colour, ec="#555", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)
    for x0, y0, x1, y1, label, lx, ly, curve in ARROWS:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, color="#444", lw=1.2,
                                     connectionstyle=f"arc3,rad={curve}"))
        if label:
            ax.text(lx, ly, label, fontsize=8, color="#333")
    ax.set_title("Fruits! — photos to PCA matrix on Spark (EMR, EU region)", fontsize=13)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def variance_curve(run: Path, path: Path) -> dict:
    import pyarrow.parquet as pq

    manifest = json.loads((run / "manifest.json").read_text())
    model = pq.read_table(run / "pca_model").to_pylist()[0]
    ratios = np.asarray(model["explained_variance_ratio"])
    cumulative = np.cumsum(ratios)
    k = int(model["k"])
    target = manifest.get("variance_target") or float(cumulative[k - 1])
    shown = min(len(cumulative), max(3 * k, 50))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, shown + 1), cumulative[:shown], lw=1.5)
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:.0%}")
    ax.axvline(k, color="tab:red", lw=1, label=f"k = {k} ({cumulative[k - 1]:.1%})")
    ax.set_xlabel("number of principal components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_title(f"PCA of {manifest['n_features']} MobileNetV2 feature vectors (1,280 -> {k})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return {"k": k, "cumulative_variance": float(cumulative[k - 1]), "n": manifest["n_features"]}


def benchmark_table(bench: Path, path: Path) -> None:
    data = json.loads(bench.read_text())
    results = data["results"]
    base = results.get("keras-loop")
    base_rate = base["images"] / base["featurize_s"] if base else None
    header = ["engine", "images", "featurize s", "images/s", "ratio", "max abs diff", "whole s"]
    rows = []
    for name, r in results.items():
        rate = r["images"] / r["featurize_s"]
        rows.append([
            name if name == "keras-loop" else f"fruits run --engine {name}",
            str(r["images"]), f"{r['featurize_s']:.1f}", f"{rate:.0f}",
            f"{rate / base_rate:.2f}x" if base_rate else "-",
            "reference" if name == "keras-loop" else f"{r.get('max_abs_diff', float('nan')):.1e}",
            f"{r['wall_s']:.1f}",
        ])
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.45 * len(rows)))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.5)
    table.auto_set_column_width(list(range(len(header))))  # the engine names are long
    ax.set_title(f"Featurization, {data['images']} images at {data['image_size']}px, 2 cores", fontsize=11)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a fruits run OUTPUT (for the variance curve)")
    parser.add_argument("--bench", type=Path, help="JSON written by benchmarks/featurize.py --json")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    architecture(args.out / "architecture.png")
    print(f"wrote {args.out / 'architecture.png'}")
    if args.run:
        summary = variance_curve(args.run, args.out / "variance_curve.png")
        (args.out / "variance_curve.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.out / 'variance_curve.png'}: k={summary['k']}")
    if args.bench:
        benchmark_table(args.bench, args.out / "benchmark.png")
        print(f"wrote {args.out / 'benchmark.png'}")


if __name__ == "__main__":
    main()
