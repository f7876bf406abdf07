"""Photos with no fruit in them, drawn in code (no data set needed): a brick wall, a face, a plain wall, a
keyboard-like grid, a cloudy sky. Identify must answer "not sure" for them. Also used by
benchmarks/identify_levers.py to choose the not-sure thresholds."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def brick_wall(seed: int = 0, size: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (150, 150, 145))
    draw = ImageDraw.Draw(image)
    brick_w, brick_h = size // 6, size // 14
    for row in range(15):
        offset = (brick_w // 2) * (row % 2)
        for col in range(-1, 8):
            x, y = col * brick_w + offset, row * brick_h
            red = int(rng.integers(120, 170))
            draw.rectangle([x + 3, y + 3, x + brick_w - 3, y + brick_h - 3],
                           fill=(red, int(red * 0.45), int(red * 0.35)))
    noise = rng.normal(0, 12, (size, size, 3))
    return _jpeg(Image.fromarray(np.clip(np.asarray(image, float) + noise, 0, 255).astype(np.uint8)))


def face(seed: int = 0, size: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(60, 200, 3)))
    draw = ImageDraw.Draw(image)
    skin = (224, 172, 140)
    draw.rectangle([size * 0.3, size * 0.75, size * 0.7, size], fill=(40, 60, 120))  # shoulders
    draw.ellipse([size * 0.25, size * 0.12, size * 0.75, size * 0.82], fill=skin)
    draw.ellipse([size * 0.22, size * 0.05, size * 0.78, size * 0.35], fill=(60, 40, 25))  # hair
    for x in (0.38, 0.62):
        draw.ellipse([size * (x - 0.05), size * 0.4, size * (x + 0.05), size * 0.46], fill="white")
        draw.ellipse([size * (x - 0.02), size * 0.41, size * (x + 0.02), size * 0.45], fill=(50, 30, 20))
    draw.line([size * 0.5, size * 0.45, size * 0.47, size * 0.58, size * 0.52, size * 0.58], fill=(180, 120, 100),
              width=4)
    draw.arc([size * 0.4, size * 0.6, size * 0.6, size * 0.72], 20, 160, fill=(150, 50, 50), width=6)
    return _jpeg(image.filter(ImageFilter.GaussianBlur(1.5)))


def plain_wall(seed: int = 0, size: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(170, 235, 3)
    pixels = base + rng.normal(0, 6, (size, size, 3)) + np.linspace(-20, 20, size)[:, None, None]
    return _jpeg(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))


def keyboard(seed: int = 0, size: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (30, 30, 35))
    draw = ImageDraw.Draw(image)
    key = size // 12
    for row in range(12):
        for col in range(12):
            x, y = col * key + (row % 3) * 4, row * key
            shade = int(rng.integers(200, 240))
            draw.rounded_rectangle([x + 4, y + 4, x + key - 4, y + key - 4], radius=4, fill=(shade, shade, shade))
    return _jpeg(image)


def sky(seed: int = 0, size: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    clouds = Image.fromarray((rng.random((size // 16, size // 16)) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC)
    c = np.asarray(clouds, float)[:, :, None] / 255
    blue = np.array([90, 150, 230], float)
    pixels = blue * (1 - c) + 245 * c
    return _jpeg(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))


NO_FRUIT = {"brick wall": brick_wall, "face": face, "plain wall": plain_wall, "keyboard": keyboard, "sky": sky}


def all_photos(seeds: int = 2) -> dict[str, bytes]:
    return {f"{name} {seed}": make(seed) for name, make in NO_FRUIT.items() for seed in range(seeds)}
