"""Photo montages of the datasets for the slides, drawn from the photos themselves (nothing pasted by hand).

    python docs/make_montage.py [--shared ../shared] [--out docs/figures]

- montage_fruits360.png: one Training photo of each of 24 varieties of the 114-class Fruits-360 slice (studio,
  white background), with its folder name;
- montage_grocery.png: Fruits-360 next to phone photos of the same kinds from the GroceryStore set (shelves,
  crates, bags), the contrast the identify service meets on real photos.
- screens.png: the top of up to three phone-sized dashboard screenshots of docs/figures/screenshots/ (taken by
  the browser test), French ones first, side by side, so a slide can show them at a readable size.
The choice is deterministic (evenly spaced classes, first file by name), so a re-run draws the same pictures.
`make figures` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

# Labels of the slides are read on a projector: 1280 px wide slides, these figures shown about 1150 px wide.
LABEL_PT = 13
# Kinds present in both datasets: (Fruits-360 folder, GroceryStore folder).
PAIRS = [
    ("Banana", "Banana"),
    ("Kiwi", "Kiwi"),
    ("Lemon", "Lemon"),
    ("Pear", "Pear Conference"),
    ("Pomegranate", "Pomegranate"),
    ("Mango", "Mango"),
]


def first_photo(folder: Path) -> Path:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[0]


def square(path: Path, size: int = 200) -> Image.Image:
    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)


def fruits360_montage(root: Path, path: Path, n: int = 24, columns: int = 8) -> list[str]:
    classes = sorted(p for p in (root / "Training").iterdir() if p.is_dir())
    step = len(classes) / n
    chosen = [classes[int(i * step)] for i in range(n)]
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(11, 1.75 * rows))
    for ax, folder in zip(axes.flat, chosen):
        ax.imshow(square(first_photo(folder)))
        ax.set_title(folder.name, fontsize=LABEL_PT - 2)
        ax.axis("off")
    fig.suptitle(f"Fruits-360 : {len(classes)} variétés, photos de studio 100 × 100 px sur fond blanc "
                 f"({n} variétés montrées)", fontsize=LABEL_PT + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [folder.name for folder in chosen]


def grocery_montage(fruits360: Path, grocery: Path, path: Path) -> None:
    fig, axes = plt.subplots(2, len(PAIRS), figsize=(11, 4.4))
    for column, (studio, shop) in enumerate(PAIRS):
        axes[0, column].imshow(square(first_photo(fruits360 / "Training" / studio)))
        axes[0, column].set_title(studio, fontsize=LABEL_PT)
        axes[1, column].imshow(square(first_photo(grocery / "Training" / shop)))
        axes[1, column].set_title(shop, fontsize=LABEL_PT)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("Fruits-360\n(studio)", fontsize=LABEL_PT)
    axes[1, 0].set_ylabel("GroceryStore\n(téléphone)", fontsize=LABEL_PT)
    fig.suptitle("Le même fruit, en studio et photographié en magasin", fontsize=LABEL_PT + 2)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def pick_screens(folder: Path, most: int = 3) -> list[Path]:
    """Phone-sized screenshots (a slide fits three side by side), French ones first; an English one is left out
    when its French version (same name + `-fr`) exists."""
    phone = [shot for shot in sorted(folder.glob("*.png")) if Image.open(shot).width <= 600]
    stems = {shot.stem for shot in phone}
    french = [shot for shot in phone if shot.stem.endswith("-fr")]
    others = [shot for shot in phone if not shot.stem.endswith("-fr") and f"{shot.stem}-fr" not in stems]
    return (french + others)[:most]


def screens(folder: Path, path: Path, height: int = 640) -> list[str]:
    """The first `height` pixels of the chosen screenshots, side by side with a white gap (none: nothing)."""
    shots = pick_screens(folder)
    if not shots:
        return []
    tops = [Image.open(shot).convert("RGB") for shot in shots]
    tops = [image.crop((0, 0, image.width, min(height, image.height))) for image in tops]
    gap = 40
    canvas = Image.new("RGB", (sum(t.width for t in tops) + gap * (len(tops) - 1), max(t.height for t in tops)),
                       "white")
    x = 0
    for top in tops:
        canvas.paste(top, (x, 0))
        x += top.width + gap
    canvas.save(path)
    return [shot.stem for shot in shots]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = Path(__file__).resolve().parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared",
                        help="the shared material folder (default: ../shared from the project root)")
    parser.add_argument("--out", type=Path, default=here / "figures")
    args = parser.parse_args()
    fruits360 = args.shared / "data" / "fruits-360-114"
    grocery = args.shared / "data" / "grocery-store-fruit"
    for folder in (fruits360, grocery):
        if not folder.is_dir():
            parser.exit(2, f"make_montage: {folder} not found; give --shared\n")
    args.out.mkdir(parents=True, exist_ok=True)
    fruits360_montage(fruits360, args.out / "montage_fruits360.png")
    print(f"wrote {args.out / 'montage_fruits360.png'}")
    grocery_montage(fruits360, grocery, args.out / "montage_grocery.png")
    print(f"wrote {args.out / 'montage_grocery.png'}")
    shown = screens(args.out / "screenshots", args.out / "screens.png")
    if shown:
        print(f"wrote {args.out / 'screens.png'} ({', '.join(shown)})")


if __name__ == "__main__":
    main()
