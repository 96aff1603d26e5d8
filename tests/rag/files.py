"""Small real documents of every kind the loaders read, written by the libraries that read them (PDF by hand)."""

from __future__ import annotations

import io
from email.message import EmailMessage

import docx
from openpyxl import Workbook


def pdf(pages: list[str], *, title: str = "Test PDF") -> bytes:
    """A minimal valid PDF with one text line per page (Helvetica), xref table included."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_id = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(f"<< /Title ({title}) >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects)))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def docx_file() -> bytes:
    document = docx.Document()
    document.add_heading("Expense Guide", level=1)
    document.add_heading("Receipts", level=2)
    document.add_paragraph("Keep every receipt for ten years.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Limit"
    table.cell(1, 0).text, table.cell(1, 1).text = "Hotel", "150 EUR"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_file() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Rates"
    sheet.append(["Country", "Per diem"])
    sheet.append(["Germany", 28])
    sheet.append(["France", 45])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def eml_file() -> bytes:
    message = EmailMessage()
    message["From"] = "hr@example.org"
    message["To"] = "all@example.org"
    message["Subject"] = "New canteen opening hours"
    message["Date"] = "Mon, 02 Nov 2026 09:00:00 +0100"
    message.set_content("The canteen now opens at 11:30.\n\nBreakfast is served from 8:00.")
    return bytes(message)
