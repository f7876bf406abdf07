"""Draw the figures of the docs and the slides from files the repo generates (nothing pasted by hand).

    python docs/make_figures.py --run OUTPUT --bench BENCH_JSON [--out docs/figures]

Labels are in French: the figures are for the French defence deck (docs/slides.md).
- architecture.png: the bricks and the data flow (drawn here, from the table below);
- variance_curve.png: cumulative explained variance of a `fruits run` OUTPUT (its pca_model/), k marked;
- benchmark.png: the table printed by `benchmarks/featurize.py --json BENCH_JSON`.
`make figures` runs this script on the notebook's run (`fruits run` on the 114-class slice if it is missing) and
on docs/figures/benchmark.json (`make bench`'s JSON copied there, or the 4-class sample measured if it is missing).
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

# The drawing is shown about 1,150 px wide on a 1,280 px slide: at FIG_WIDTH inches, a font of F points is
# F / 72 * 1150 / FIG_WIDTH px on the screen, so 14 pt is ~20 px, the least a projector's back row can read.
FIG_WIDTH, FIG_HEIGHT = 11.5, 6.2
BOX_PT, ARROW_PT = 15, 14

# (key, text, x, y, width, height, colour): boxes of the architecture drawing, in axes units (0..100).
BOXES = [
    ("laptop", "Portable\nfruits cloud", 0, 74, 20, 17, "#eeeeee"),
    ("s3", "Bucket S3 (région UE)\nprivé · chiffré · TLS seul\nphotos · code · résultats", 30, 74, 38, 17,
     "#fff2cc"),
    ("serve", "fruits serve\ntableau de bord\nidentification", 78, 74, 22, 17, "#e2f0d9"),
    ("driver", "Driver Spark\npoids lus 1 fois → LiteRT\ndiffusion · ACP · manifeste", 30, 36, 38, 17,
     "#dae8fc"),
    ("exec1", "Exécuteur + worker Python\ndécodage · MobileNetV2\nécrit Parquet / CSV", 2, 4, 35, 17, "#dae8fc"),
    ("iam", "Rôles IAM :\nce bucket\nseulement", 40, 4, 20, 17, "#f8cecc"),
    ("exec2", "Exécuteur + worker Python\n(autres nœuds core)", 63, 4, 35, 17, "#dae8fc"),
]
# (x0, y0, x1, y1, label, label x, label y, curvature)
ARROWS = [
    (20, 82.5, 30, 82.5, "", 0, 0, 0.0),
    (68, 82.5, 78, 82.5, "", 0, 0, 0.0),
    (49, 74, 49, 53, "poids", 50.5, 68, 0.0),
    (40, 36, 25, 21, "diffusion\ndu modèle", 43.5, 25, 0.0),
    (58, 36, 73, 21, "", 0, 0, 0.0),
    (15, 21, 33, 74, "photos lues,\nrésultats écrits", 0, 40, -0.2),
    (85, 21, 65, 74, "", 0, 0, 0.2),
]


def architecture(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, FIG_HEIGHT))
    ax.set_xlim(-1, 101)
    ax.set_ylim(-7, 93)
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((1, 1.5), 98, 64, boxstyle="round,pad=0.5", fc="#f5f9ff", ec="#6c8ebf", lw=1.5,
                                ls="--"))
    ax.text(50, -1.5, "Cluster EMR, même région UE · YARN · arrêt automatique · disques des nœuds chiffrés",
            ha="center", va="top", fontsize=ARROW_PT, color="#335")
    for _key, text, x, y, w, h, colour in BOXES:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4", fc=colour, ec="#555", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=BOX_PT, linespacing=1.25)
    for x0, y0, x1, y1, label, lx, ly, curve in ARROWS:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=20, color="#444", lw=1.6,
                                     connectionstyle=f"arc3,rad={curve}"))
        if label:
            ax.text(lx, ly, label, fontsize=ARROW_PT, color="#333")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def thousands(n: int) -> str:
    """12 345 -> '12 345' (the French thousands separator, a narrow no-break space)."""
    return f"{n:,}".replace(",", "\u202f")


def percent(x: float, digits: int) -> str:
    """0.9501 -> '95,0 %' (French decimal comma)."""
    return f"{100 * x:.{digits}f}".replace(".", ",") + "\u00a0%"


def decimal(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


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
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"cible {percent(target, 0)}")
    ax.axvline(k, color="tab:red", lw=1, label=f"k = {k} ({percent(cumulative[k - 1], 1)})")
    ax.set_xlabel("nombre de composantes principales")
    ax.set_ylabel("variance expliquée cumulée")
    ax.set_title(f"ACP de {thousands(manifest['n_features'])} vecteurs MobileNetV2 (1 280 → {k})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return {"k": k, "cumulative_variance": float(cumulative[k - 1]), "n": manifest["n_features"]}


# The contenders of benchmarks/featurize.py, named in French (an unknown one keeps its own name).
CONTENDER_NAMES = {
    "keras-loop": "boucle Keras (1 processus)",
    "engine-alone": "moteur LiteRT seul (sans Spark)",
    "litert": "fruits run (LiteRT)",
    "keras": "fruits run --engine keras",
    "predict_batch_udf": "predict_batch_udf de Spark (Keras)",
}


def benchmark_table(bench: Path, path: Path) -> None:
    data = json.loads(bench.read_text())
    results = data["results"]
    base = results.get("keras-loop")
    base_rate = base["images"] / base["featurize_s"] if base else None
    header = ["moteur", "images", "extraction (s)", "images/s", "rapport", "écart max.", "total (s)"]
    rows = []
    for name, r in results.items():
        rate = r["images"] / r["featurize_s"]
        rows.append([
            CONTENDER_NAMES.get(name, name),
            thousands(r["images"]), decimal(r["featurize_s"], 1), f"{rate:.0f}",
            f"{decimal(rate / base_rate, 2)} ×" if base_rate else "-",
            "référence" if name == "keras-loop" else f"{r.get('max_abs_diff', float('nan')):.1e}".replace(".", ","),
            # The engine alone is its featurization only: no whole process to compare.
            "-" if name == "engine-alone" else decimal(r["wall_s"], 1),
        ])
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.45 * len(rows)))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(13)
    table.scale(1, 1.5)
    table.auto_set_column_width(list(range(len(header))))  # the engine names are long
    cores = data.get("cores", 2)
    ax.set_title(f"Extraction des caractéristiques : {thousands(data['images'])} images en {data['image_size']} px, "
                 f"{cores} cœurs", fontsize=12)
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
