"""Every loader on a real file of its kind: text, structure (headings, tables) and page numbers."""

from __future__ import annotations

import pytest

from suite.errors import DocumentUnreadable
from suite.rag.documents import SourceDocument
from suite.rag.loaders import load
from tests.rag import files


def doc(name: str, data: bytes) -> tuple[SourceDocument, bytes]:
    return SourceDocument(uri=f"file:///docs/{name}", name=name, title=name, read=lambda: data), data


def test_pdf_keeps_page_numbers_and_title() -> None:
    loaded = load(*doc("policy.pdf", files.pdf(["Travel is booked in the portal.", "Hotels up to 150 euros."])))
    assert [(b.page, b.text) for b in loaded.blocks] == [
        (1, "Travel is booked in the portal."),
        (2, "Hotels up to 150 euros."),
    ]
    assert loaded.title == "Test PDF"


def test_docx_headings_paragraphs_and_tables() -> None:
    loaded = load(*doc("guide.docx", files.docx_file()))
    kinds = [(b.kind, b.level, b.text) for b in loaded.blocks]
    assert kinds == [
        ("heading", 1, "Expense Guide"),
        ("heading", 2, "Receipts"),
        ("paragraph", 0, "Keep every receipt for ten years."),
        ("table", 0, "Item | Limit\nHotel | 150 EUR"),
    ]


def test_xlsx_sheet_as_heading_and_table() -> None:
    loaded = load(*doc("rates.xlsx", files.xlsx_file()))
    assert [(b.kind, b.text) for b in loaded.blocks] == [
        ("heading", "Rates"),
        ("table", "Country | Per diem\nGermany | 28\nFrance | 45"),
    ]


def test_csv_with_german_semicolons() -> None:
    loaded = load(*doc("kosten.csv", b"Posten;Betrag\nHotel;150\n"))
    assert loaded.blocks[0].text == "Posten | Betrag\nHotel | 150"


def test_html_main_content_without_navigation() -> None:
    html = b"""<html><head><title>Wiki : Onboarding</title></head><body><nav>Menu Home</nav>
    <div id="main-content"><h1>Onboarding</h1><p>Badges come from the <b>service desk</b>.</p>
    <ul><li>Laptop on day one</li></ul><table><tr><th>Day</th><th>Task</th></tr><tr><td>1</td><td>Badge</td></tr></table>
    </div><script>alert(1)</script></body></html>"""
    loaded = load(*doc("onboarding.html", html))
    assert [b.text for b in loaded.blocks] == [
        "Onboarding",
        "Badges come from the service desk .",
        "Laptop on day one",
        "Day | Task\n1 | Badge",
    ]
    assert loaded.title == "Wiki : Onboarding"


def test_markdown_and_text() -> None:
    md = load(*doc("a.md", b"# Title\n\n## Part\n\nSome *text* here.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"))
    assert [(b.kind, b.text) for b in md.blocks] == [
        ("heading", "Title"),
        ("heading", "Part"),
        ("paragraph", "Some text here."),
        ("table", "a | b\n1 | 2"),
    ]
    assert md.title == "Title"
    text = load(*doc("b.txt", "Erster Absatz.\n\nZweiter Absatz über Übertrag.".encode("cp1252")))
    assert [b.text for b in text.blocks] == ["Erster Absatz.", "Zweiter Absatz über Übertrag."]


def test_eml_subject_headers_and_body() -> None:
    loaded = load(*doc("canteen.eml", files.eml_file()))
    assert loaded.title == "New canteen opening hours"
    texts = [b.text for b in loaded.blocks]
    assert texts[0] == "New canteen opening hours"
    assert "From: hr@example.org" in texts[1]
    assert texts[2:] == ["The canteen now opens at 11:30.", "Breakfast is served from 8:00."]


@pytest.mark.parametrize(
    ("name", "data"),
    [("broken.pdf", b"%PDF-1.4 garbage"), ("broken.docx", b"PK\x03\x04 not a zip"), ("broken.xlsx", b"nonsense")],
)
def test_corrupt_files_are_unreadable_by_name(name: str, data: bytes) -> None:
    with pytest.raises(DocumentUnreadable, match=name):
        load(*doc(name, data))


def test_unknown_kind_is_unreadable() -> None:
    with pytest.raises(DocumentUnreadable, match="no loader"):
        load(*doc("image.png", b"\x89PNG"))
