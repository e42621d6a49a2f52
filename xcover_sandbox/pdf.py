"""A one-page certificate of insurance as a real (minimal, hand-built) PDF, so the link works offline."""

from __future__ import annotations

from typing import Any


def _escape(text: str) -> str:
    """Escape text for a PDF string literal (Latin-1 only; other characters become '?')."""
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def certificate_lines(doc: dict[str, Any]) -> list[str]:
    """The certificate's text, one line each."""
    holder = doc.get("policyholder") or {}
    chosen = set(doc.get("_booked") or [])
    lines = [
        "Certificate of insurance (XCover sandbox - not a real policy)",
        "",
        f"Booking reference: {doc['id']}",
        f"Status: {doc['status']}",
        f"Policyholder: {holder.get('first_name', '')} {holder.get('last_name', '')}",
        "",
    ]
    for quote in doc["quotes"].values():
        if not quote or quote["id"] not in chosen:
            continue
        item = quote.get("_item") or quote.get("extra_fields") or {}
        ends = quote["policy_end_date"]
        lines += [
            f"{quote['policy']['policy_name']} - {item.get('product_name', '')}",
            f"  Policy {quote['id']}  status {quote['status']}",
            f"  From {quote['policy_start_date'][:10]} {f'to {ends[:10]}' if ends else '(open-ended)'}  "
            f"price {quote['price']} {doc['currency']}",
            "",
        ]
    return lines


def certificate_pdf(doc: dict[str, Any]) -> bytes:
    """Build the PDF bytes: one page of Helvetica text."""
    text = ["BT", "/F1 11 Tf", "14 TL", "50 790 Td"]
    for line in certificate_lines(doc):
        text.append(f"({_escape(line)}) Tj T*")
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
