"""Get the photo out of an upload body, in memory.

Starlette's form parser spools file parts larger than 1 MB to a temporary file on disk; an uploaded photo must
not be stored anywhere, so the (already size-capped) body is parsed here with python-multipart's streaming
parser into memory. A client may also send the photo as the raw body (Content-Type image/* or
application/octet-stream).
"""

from __future__ import annotations

try:
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # python-multipart < 0.0.13 names its module `multipart`
    from multipart.exceptions import MultipartParseError
    from multipart.multipart import MultipartParser, parse_options_header

from ..identify import UnreadablePhotoError, UnsupportedPhotoError

FIELD = "photo"
_MAX_PARTS = 16


class UploadFormError(UnreadablePhotoError):
    """The form is malformed or lacks the photo field (web: 422)."""


def photo_from_body(body: bytes, content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    kind = kind.lower()
    if kind == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise UploadFormError("malformed upload: multipart/form-data without a boundary")
        return _photo_part(body, boundary)
    if not kind or kind == b"application/octet-stream" or kind.startswith(b"image/"):
        return body
    raise UnsupportedPhotoError(
        f"cannot take a photo from a {kind.decode(errors='replace')} body: send a form field named "
        f"'{FIELD}' (multipart/form-data) or the photo's bytes as the body"
    )


def _photo_part(body: bytes, boundary: bytes) -> bytes:
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    headers: dict[bytes, bytes] = {}
    data = bytearray()
    field_name = bytearray()
    field_value = bytearray()

    def on_part_begin() -> None:
        nonlocal headers, data
        if len(parts) >= _MAX_PARTS:
            raise UploadFormError(f"malformed upload: more than {_MAX_PARTS} form fields")
        headers, data = {}, bytearray()

    def on_header_field(chunk: bytes, start: int, end: int) -> None:
        field_name.extend(chunk[start:end])

    def on_header_value(chunk: bytes, start: int, end: int) -> None:
        field_value.extend(chunk[start:end])

    def on_header_end() -> None:
        headers[bytes(field_name).lower()] = bytes(field_value)
        field_name.clear()
        field_value.clear()

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        data.extend(chunk[start:end])

    def on_part_end() -> None:
        parts.append((headers, data))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadFormError(f"malformed upload: {str(exc)[:120]}") from None
    photos = []
    for part_headers, part_data in parts:
        _, options = parse_options_header(part_headers.get(b"content-disposition", b""))
        if options.get(b"name") == FIELD.encode():
            photos.append((options.get(b"filename", b""), bytes(part_data)))
    if not photos:
        raise UploadFormError(f"no photo in the upload: send it as the form field '{FIELD}'")
    # The page has two inputs ("take a photo", "choose a photo"); the unused one arrives empty.
    for _, content in photos:
        if content:
            return content
    return b""
