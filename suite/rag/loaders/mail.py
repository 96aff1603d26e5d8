"""E-mail (.eml) with the standard library: the headers that matter, then the body (plain text preferred)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from suite.errors import DocumentUnreadable
from suite.rag.documents import Block, LoadedDocument
from suite.rag.loaders.markup import load_html, paragraphs


def load_eml(data: bytes) -> LoadedDocument:
    """Subject as the title; From, To, Date as a first block; attachments are not read."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    if not isinstance(message, EmailMessage) or not (message["from"] or message["subject"]):
        raise DocumentUnreadable("not an e-mail message (no From or Subject header)")
    subject = str(message["subject"] or "").strip()
    header = "; ".join(f"{name}: {message[name]}" for name in ("From", "To", "Cc", "Date") if message[name])
    blocks = [Block("heading", subject, level=1)] if subject else []
    blocks.append(Block("paragraph", header))
    body = message.get_body(preferencelist=("plain", "html"))
    if isinstance(body, EmailMessage):
        content = body.get_content()
        if body.get_content_subtype() == "html":
            blocks += load_html(content.encode()).blocks
        else:
            blocks += [Block("paragraph", p) for p in paragraphs(content)]
    return LoadedDocument(blocks, title=subject or None)
