import numpy as np
import pytest
from PIL import Image

from fruits.errors import ImageDecodeError
from fruits.images import ImageLimits, decode_and_resize, to_rgb
from tests import bad_images


@pytest.mark.parametrize("name", [n for n, (_, ok) in bad_images.CASES.items() if ok])
def test_awkward_but_valid_images_decode_to_rgb(name):
    build, _ = bad_images.CASES[name]
    array = decode_and_resize(build(), 96)
    assert array.shape == (96, 96, 3) and array.dtype == np.uint8


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated.jpg", "truncated"),
        ("not an image.jpg", "not a recognised image"),
        ("empty.jpg", "empty file"),
        ("bomb.png", "decompression bomb"),
    ],
)
def test_broken_images_raise_a_one_line_reason(name, reason):
    build, _ = bad_images.CASES[name]
    with pytest.raises(ImageDecodeError) as info:
        decode_and_resize(build(), 96)
    message = str(info.value)
    assert reason in message and "\n" not in message


def test_over_the_byte_limit_is_refused():
    data = bad_images.jpeg((50, 50))
    with pytest.raises(ImageDecodeError, match="over the 100-byte limit"):
        decode_and_resize(data, 64, ImageLimits(max_bytes=100))
    with pytest.raises(ImageDecodeError, match="larger than"):
        decode_and_resize(None, 64)


def test_pixel_limit_is_checked_from_the_header():
    data = bad_images.jpeg((400, 300))
    with pytest.raises(ImageDecodeError, match="400x300 pixels"):
        decode_and_resize(data, 64, ImageLimits(max_pixels=100_000))


def test_sixteen_bit_png_is_scaled_not_clipped():
    array = decode_and_resize(bad_images.png16_gray(), 64)
    # the ramp goes from black to ~white: clipping at 255 would make almost every pixel white
    assert array.min() < 20 and 100 < array.mean() < 160


def test_transparent_pixels_become_white_background():
    array = decode_and_resize(bad_images.rgba_png(), 50)
    assert tuple(array[0, 0]) == (255, 255, 255)
    assert tuple(array[25, 25]) == (200, 0, 0)


def test_cmyk_becomes_rgb():
    array = decode_and_resize(bad_images.cmyk_jpeg(), 32)
    # CMYK (0, 200, 200, 0) is a red
    red, green, blue = array[16, 16].astype(int)
    assert red > 200 and green < 90 and blue < 90


def test_exif_orientation_is_applied():
    # stored 60x30 with a red left half; rotated 90° clockwise the red half is on top
    array = decode_and_resize(bad_images.exif_rotated_jpeg(), 30)
    top, bottom = array[2, 15].astype(int), array[27, 15].astype(int)
    assert top[0] > 200 and top[1] < 60
    assert bottom.min() > 200


def test_large_jpeg_uses_draft_and_matches_a_full_decode():
    data = bad_images.large_jpeg()
    fast = decode_and_resize(data, 224).astype(int)
    import io

    full = Image.open(io.BytesIO(data)).convert("RGB")
    left, top = (4000 - 3000) // 2, 0
    reference = np.asarray(full.resize((224, 224), Image.Resampling.BILINEAR, box=(left, top, left + 3000, 3000)))
    # random noise is the worst case for a DCT downscale; the means still agree closely
    assert abs(fast.mean() - reference.mean()) < 2.0


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I", "F", "1", "I;16"])
def test_every_accepted_mode_converts_to_rgb(mode):
    image = Image.new("RGB", (8, 8), (120, 60, 30)).convert(mode) if mode not in ("I;16",) else Image.new(mode, (8, 8))
    assert to_rgb(image).mode == "RGB"
