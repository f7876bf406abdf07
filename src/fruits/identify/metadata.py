"""Cut a photo's metadata out before anything decodes it, keeping its pixels and its orientation.

Privacy: a phone photo carries EXIF (with the phone's GPS position), XMP, IPTC and comments. `strip_metadata`
removes them from the bytes before Pillow sees them, keeping only the orientation flag that turns the photo
upright, so no metadata can reach a log or an answer.
"""

from __future__ import annotations

import zlib

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_ORIENTATION_TAG = 0x0112
# JPEG segments that carry metadata, not pixels: APP1 (EXIF, XMP), APP13 (IPTC), COM. APP2 "MPF" (the index of a
# phone's multi-picture file) goes too: only the first picture is used. APP0, APP2 ICC and APP14 stay: they
# tell the decoder how to read the colours.
_JPEG_METADATA = (0xE1, 0xED, 0xFE)
_PNG_METADATA = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")


def _orientation(tiff: bytes) -> int | None:
    """The orientation tag of an EXIF (TIFF) block's first directory; nothing else is looked at."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    directory = int.from_bytes(tiff[4:8], order)
    if directory + 2 > len(tiff):
        return None
    for i in range(min(int.from_bytes(tiff[directory : directory + 2], order), 1024)):
        entry = directory + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        if int.from_bytes(tiff[entry : entry + 2], order) == _ORIENTATION_TAG:
            value = int.from_bytes(tiff[entry + 8 : entry + 10], order)
            return value if 1 <= value <= 8 else None
    return None


def _orientation_tiff(orientation: int) -> bytes:
    """A one-entry EXIF block: the orientation, nothing else."""
    entry = _ORIENTATION_TAG.to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    entry += orientation.to_bytes(2, "little") + b"\x00\x00"
    return b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little") + entry + (0).to_bytes(4, "little")


def _strip_jpeg(data: bytes) -> bytes:
    out, pos, orientation = bytearray(data[:2]), 2, None
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos : pos + 2 + length]
        if length < 2 or len(segment) < 2 + length:
            break  # damaged: leave the rest to the decoder, which will say what is wrong
        payload = segment[4:]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            orientation = _orientation(payload[6:]) or orientation
        elif marker not in _JPEG_METADATA and not (marker == 0xE2 and payload.startswith(b"MPF\x00")):
            out += segment
        pos += 2 + length
    if orientation and orientation != 1:
        exif = b"Exif\x00\x00" + _orientation_tiff(orientation)
        out[2:2] = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    return bytes(out + data[pos:])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")


def _strip_png(data: bytes) -> bytes:
    out, pos, orientation = bytearray(data[:8]), 8, None
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, end = data[pos + 4 : pos + 8], pos + 12 + length
        if end > len(data):
            break
        if kind == b"eXIf":
            orientation = _orientation(data[pos + 8 : pos + 8 + length])
        elif kind not in _PNG_METADATA:
            if kind == b"IDAT" and orientation and orientation != 1:
                out += _png_chunk(b"eXIf", _orientation_tiff(orientation))  # must precede the image data
                orientation = None
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
    return bytes(out + data[pos:])


def strip_metadata(data: bytes) -> bytes:
    """The photo with its metadata cut out and its pixels untouched (the orientation flag alone is kept)."""
    if data.startswith(JPEG_MAGIC):
        return _strip_jpeg(data)
    if data.startswith(PNG_MAGIC):
        return _strip_png(data)
    return data
