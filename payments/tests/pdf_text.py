"""Read the text of a PDF that reportlab wrote, without a PDF library: inflate each content
stream and collect the strings drawn with Tj."""

import base64
import re
import zlib

_STREAM = re.compile(rb"<<(.*?)>>\s*stream\r?\n(.*?)\s*endstream", re.S)
_TEXT = re.compile(rb"\((.*?)(?<!\\)\)\s*Tj")


def pdf_text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-"), "not a PDF"
    chunks = []
    for header, data in _STREAM.findall(pdf):
        if b"ASCII85Decode" in header:
            data = data.strip().removeprefix(b"<~").removesuffix(b"~>")
            data = base64.a85decode(data)
        if b"FlateDecode" in header:
            try:
                data = zlib.decompress(data)
            except zlib.error:
                continue
        chunks += [m.replace(rb"\(", b"(").replace(rb"\)", b")") for m in _TEXT.findall(data)]
    return " ".join(chunk.decode("latin-1") for chunk in chunks)
