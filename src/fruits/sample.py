"""A small synthetic dataset in the Fruits-360 layout, so the project has data that needs no download.

Each photo is a drawn fruit (apple, banana, lemon, orange, raspberry) with its kind's colours, some shading,
a random rotation, scale and position, on a white background like Fruits-360: 100x100 RGB JPEG.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

from .errors import UsageError

SIZE = 100
# Drawn at 3x and downsampled: smooth edges, like a real photo.
_SCALE = 3


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in color)  # type: ignore[return-value]


def _jitter(rng: random.Random, color: tuple[int, int, int], amount: int = 18) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)  # type: ignore[return-value]


def _shaded_ellipse(draw: ImageDraw.ImageDraw, box, color, steps: int = 8) -> None:
    """An ellipse lit from the top left: concentric, lighter ellipses towards the highlight."""
    x0, y0, x1, y1 = box
    for i in range(steps):
        t = i / steps
        inset_x = (x1 - x0) * 0.45 * t
        inset_y = (y1 - y0) * 0.45 * t
        shift_x = -(x1 - x0) * 0.12 * t
        shift_y = -(y1 - y0) * 0.12 * t
        draw.ellipse(
            (x0 + inset_x + shift_x, y0 + inset_y + shift_y, x1 - inset_x + shift_x, y1 - inset_y + shift_y),
            fill=_shade(color, 0.78 + 0.45 * t),
        )


def _apple(draw, rng, c) -> None:
    color = _jitter(rng, rng.choice([(196, 30, 40), (120, 190, 50), (220, 60, 40)]))
    _shaded_ellipse(draw, (c - 95, c - 85, c + 95, c + 100), color)
    draw.line((c, c - 80, c + 10, c - 120), fill=(90, 60, 30), width=9)
    draw.ellipse((c + 12, c - 118, c + 55, c - 95), fill=(60, 140, 40))


def _banana(draw, rng, c) -> None:
    color = _jitter(rng, (235, 205, 50))
    for i in range(10):
        t = i / 10
        draw.arc((c - 120, c - 150 + 12 * t, c + 120, c + 90 - 8 * t), 20, 160, fill=_shade(color, 0.8 + 0.3 * t),
                 width=18)
    draw.line((c - 105, c - 20, c - 120, c - 35), fill=(80, 60, 20), width=10)


def _lemon(draw, rng, c) -> None:
    color = _jitter(rng, (245, 225, 60))
    _shaded_ellipse(draw, (c - 100, c - 70, c + 100, c + 70), color)
    draw.polygon([(c + 95, c - 14), (c + 125, c), (c + 95, c + 14)], fill=_shade(color, 0.9))
    draw.polygon([(c - 95, c - 12), (c - 118, c), (c - 95, c + 12)], fill=_shade(color, 0.85))


def _orange(draw, rng, c) -> None:
    color = _jitter(rng, (245, 140, 20))
    _shaded_ellipse(draw, (c - 95, c - 95, c + 95, c + 95), color)
    for _ in range(60):  # the dimpled peel
        x, y = c + rng.randint(-70, 70), c + rng.randint(-70, 70)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=_shade(color, 0.88))
    draw.ellipse((c - 8, c - 98, c + 8, c - 84), fill=(70, 110, 40))


def _raspberry(draw, rng, c) -> None:
    color = _jitter(rng, (190, 20, 70))
    for row in range(-4, 5):
        width = int(5 - abs(row) * 0.6)
        for col in range(-width, width + 1):
            x = c + col * 22 + (11 if row % 2 else 0)
            y = c + row * 20
            draw.ellipse((x - 14, y - 14, x + 14, y + 14), fill=_shade(color, rng.uniform(0.75, 1.15)))
            draw.ellipse((x - 5, y - 8, x + 1, y - 2), fill=_shade(color, 1.4))
    draw.polygon([(c - 30, c - 95), (c, c - 80), (c + 30, c - 95), (c, c - 110)], fill=(60, 130, 50))


KINDS: dict[str, Callable] = {
    "apple": _apple,
    "banana": _banana,
    "lemon": _lemon,
    "orange": _orange,
    "raspberry": _raspberry,
}


def draw_fruit(kind: str, rng: random.Random) -> Image.Image:
    big = SIZE * _SCALE
    canvas = Image.new("RGB", (big, big), (255, 255, 255))
    KINDS[kind](ImageDraw.Draw(canvas), rng, big // 2)
    canvas = canvas.rotate(rng.uniform(0, 360), resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    scale = rng.uniform(0.7, 1.0)
    side = int(big * scale)
    fruit = canvas.resize((side, side), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (big, big), (255, 255, 255))
    slack = big - side
    out.paste(fruit, (rng.randint(0, slack), rng.randint(0, slack)))
    out = out.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.2)))
    return out.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def generate_sample(directory: str, n_per_class: int = 40, test_fraction: float = 0.25, seed: int = 0) -> dict:
    """Write DIR/Training/<kind>/*.jpg and DIR/Test/<kind>/*.jpg; return counts per split."""
    if not isinstance(n_per_class, int) or not 1 <= n_per_class <= 100_000:
        raise UsageError(f"bad --n-per-class {n_per_class!r}: give a whole number from 1 to 100000")
    if not 0.0 <= test_fraction < 1.0:
        raise UsageError(f"bad --test-fraction {test_fraction!r}: give a fraction in [0, 1)")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"{directory} exists and is not a folder")
    rng = random.Random(seed)
    n_test = math.floor(n_per_class * test_fraction) if n_per_class > 1 else 0
    counts = {"Training": 0, "Test": 0}
    try:
        for kind in KINDS:
            for i in range(n_per_class):
                split = "Test" if i < n_test else "Training"
                folder = os.path.join(directory, split, kind)
                os.makedirs(folder, exist_ok=True)
                draw_fruit(kind, rng).save(os.path.join(folder, f"{kind}_{i:04d}.jpg"), quality=92)
                counts[split] += 1
    except OSError as exc:
        raise UsageError(f"cannot write the sample under {directory}: {exc.strerror or exc}") from None
    return counts
