"""PII round trips for every recognizer, reversible masking, and presidio kept offline."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from suite.guardrails import Guardrails, Vault

# One value per recognizer (German identifiers with valid check digits).
SAMPLES = {
    "EMAIL_ADDRESS": "Schreib an erika.mustermann@beispiel.de bitte.",
    "PHONE_NUMBER": "Call me on +49 30 12345678 tomorrow.",
    "IBAN_CODE": "Meine IBAN ist DE89 3704 0044 0532 0130 00.",
    "CREDIT_CARD": "Card number 4111 1111 1111 1111 expires soon.",
    "IP_ADDRESS": "The server at 192.168.10.42 is down.",
    "DE_TAX_ID": "Meine Steuer-ID ist 86095742719.",
    "DE_SOCIAL_SECURITY": "Rentenversicherungsnummer 12150585M016 bitte prüfen.",
    "DE_ID_CARD": "Personalausweis Nummer T22000129 liegt vor.",
    "DE_KFZ": "Das Kennzeichen ist B-AB 1234.",
    "CUSTOMER_NUMBER": "Kundennummer KD-1234567 hat angerufen.",
}


@pytest.mark.parametrize("entity", sorted(SAMPLES))
def test_every_recognizer_masks_and_unmasks(guardrails: Guardrails, entity: str) -> None:
    assert guardrails.pii is not None
    text = SAMPLES[entity]
    vault = Vault()
    masked = guardrails.pii.mask(text, vault)
    assert f"<{entity}_1>" in masked.text, masked
    original = vault.by_placeholder[f"<{entity}_1>"]
    assert original not in masked.text
    assert vault.reveal(masked.text) == text


def test_same_value_same_placeholder_and_model_values_stay_masked(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    vault = Vault()
    masked = guardrails.pii.mask("a@example.com, b@example.com, a@example.com", vault)
    assert masked.text == "<EMAIL_ADDRESS_1>, <EMAIL_ADDRESS_2>, <EMAIL_ADDRESS_1>"
    # A value the model produced itself gets a placeholder that is never revealed.
    answer = guardrails.pii.mask("Contact c@example.com or a@example.com", vault, revealable=False)
    assert vault.reveal(answer.text) == "Contact <EMAIL_ADDRESS_3> or a@example.com"


def test_clean_text_is_untouched(guardrails: Guardrails) -> None:
    assert guardrails.pii is not None
    text = "The meeting is on Monday at 10 in room 4."
    assert guardrails.pii.mask(text).text == text


def test_presidio_never_reaches_for_the_network(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A fresh interpreter (no tldextract cache warmed by other tests): any connect attempt fails the run.
    script = f"""
import socket
def refuse(*a, **k):
    raise SystemExit("network attempt: " + repr(a))
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pathlib import Path
from suite.config import GuardrailSettings
from suite.guardrails import Guardrails
g = Guardrails(GuardrailSettings(), data_dir=Path({str(tmp_path)!r}))
g.load()
print(g.pii.mask("write to someone@unusual-domain.co.uk").text)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<EMAIL_ADDRESS_1>" in result.stdout
    assert socket.socket.connect is not None  # this process untouched
