"""Builders of awkward image files (bytes): what real photo folders contain besides clean JPEGs."""

from __future__ import annotations

import io
import zlib
import struct

import numpy as np
from PIL import Image


def jpeg(size=(120, 80), color=(200, 30, 40), mode="RGB", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg((300, 300), (10, 200, 30))
    return data[: len(data) // 2]


def text_named_jpg() -> bytes:
    return b"this is not a photo, just text with a .jpg name\n"


def one_pixel() -> bytes:
    return jpeg((1, 1), (250, 200, 0))


def cmyk_jpeg() -> bytes:
    return jpeg((64, 48), (0, 200, 200, 0), mode="CMYK")


def png16_gray() -> bytes:
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    return png(Image.fromarray(ramp))


def rgba_png() -> bytes:
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (10, 10, 40, 40))
    return png(image)


def palette_png() -> bytes:
    return png(Image.new("RGB", (40, 40), (10, 120, 200)).convert("P", palette=Image.Palette.ADAPTIVE))


def grayscale_jpeg() -> bytes:
    return jpeg((60, 60), 128, mode="L")


def exif_rotated_jpeg() -> bytes:
    """A 60x30 image whose EXIF says 'rotate 90°': it must come out as 30 wide, 60 high before cropping."""
    image = Image.new("RGB", (60, 30), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 30, 30))  # red left half
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header and a tiny compressed body that would inflate to width x height grey pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    body = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def large_jpeg() -> bytes:
    """A 4000x3000 phone-sized photo: decoded with draft() at a fraction of its size."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(3000, 4000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


# name -> (builder, should decode?)
CASES = {
    "truncated.jpg": (truncated_jpeg, False),
    "not an image.jpg": (text_named_jpg, False),
    "empty.jpg": (lambda: b"", False),
    "bomb.png": (png_bomb, False),
    "one pixel.jpg": (one_pixel, True),
    "cmyk.jpg": (cmyk_jpeg, True),
    "sixteen bit.png": (png16_gray, True),
    "rgba.png": (rgba_png, True),
    "palette.png": (palette_png, True),
    "grayscale.JPEG": (grayscale_jpeg, True),
    "exif rotated.jpg": (exif_rotated_jpeg, True),
}
