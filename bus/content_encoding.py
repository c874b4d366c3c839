"""Request bodies under ``Content-Encoding``: decoded by the edge, bounded, every failure named.

The server is run with aiohttp's own decompression off (``bus.app.server_options``): aiohttp meets
a broken stream inside its HTTP parser, where it can only answer in plain text, log a traceback and,
for a ``deflate`` stream that never ends, leave the handler waiting. Decoding here, the edge answers
every such body with a JSON-RPC error, and what a body expands to is capped by the same
``limits.max_body_bytes`` as a plain body (a zip bomb stops at the cap).
"""

from __future__ import annotations

import zlib

#: ``Content-Encoding`` values the edge decodes (``x-gzip`` is gzip's old name).
SUPPORTED = ("identity", "gzip", "x-gzip", "deflate")


class UndecodableBody(Exception):
    """The body is not what its ``Content-Encoding`` says, or names an unsupported coding."""


class BodyTooLarge(Exception):
    """The decoded body is larger than the limit."""


def decode_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """``body`` with each coding of ``content_encoding`` undone, at most ``limit`` bytes."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    unsupported = [c for c in codings if c not in SUPPORTED]
    if unsupported:
        raise UndecodableBody(
            f"Content-Encoding {unsupported[0]!r} is not supported (use gzip or deflate)"
        )
    for coding in reversed(codings):  # the last coding applied is undone first
        if coding != "identity":
            body = _inflate(body, coding, limit)
    return body


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    if coding == "deflate" and body[:1] and body[0] & 0x0F != 8:
        wbits = -zlib.MAX_WBITS  # a raw deflate stream, as some clients send "deflate"
    else:
        wbits = zlib.MAX_WBITS | (16 if coding != "deflate" else 0)
    decompressor = zlib.decompressobj(wbits)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error:
        raise UndecodableBody(f"the body is not valid {coding}") from None
    if len(out) > limit:
        raise BodyTooLarge(coding)
    if not decompressor.eof:
        raise UndecodableBody(f"the body is a {coding} stream cut short")
    if decompressor.unused_data:
        raise UndecodableBody(f"the body has bytes after its {coding} stream")
    return out
