"""A tiny, valid one-page PDF, written by hand (no PDF library in the simulator's dependencies).

The page uses the standard Helvetica font, which has no Cyrillic glyphs, so its text is
transliterated; the document title keeps the original text (UTF-16 in the info dictionary).
The output depends only on the arguments, so equal requests give byte-equal files.
"""

from __future__ import annotations

_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split()
# The hard and soft signs have no Latin letter: they are dropped.
_TRANSLIT = {
    cyrillic: "" if latin == "-" else latin
    for cyrillic, latin in zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", _LATIN, strict=True)
} | {"№": "No.", "«": '"', "»": '"'}


def render_pdf(title: str, lines: list[str]) -> bytes:
    """A PDF 1.4 document with ``lines`` of text on an A4 page and ``title`` as its title."""
    text = " T* ".join(f"({_escape(_latin(line))}) Tj" for line in lines)
    stream = f"BT /F1 12 Tf 14 TL 72 770 Td {text} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title <FEFF" + title.encode("utf-16-be").hex().upper().encode() + b"> "
        b"/Producer (1C:Enterprise simulator) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _latin(text: str) -> str:
    chars = []
    for char in text:
        latin = _TRANSLIT.get(char.lower())
        if latin is None:
            chars.append(char if char.isascii() else "?")
        else:
            chars.append(latin.capitalize() if char.isupper() else latin)
    return "".join(chars)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
