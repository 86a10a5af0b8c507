"""Thunderbird's encrypted test mail, decrypted by govsign.

Every message in ../shared/corpora/thunderbird-smime that Thunderbird's
tests (or OpenSSL's cross-check in the manifest) decrypt is decrypted with
the stated key (password ``nss``); the text must match, and where the
Thunderbird test states a signature verdict after decryption, govsign's
verdict on the decrypted message must agree.  The messages Thunderbird
refuses to decrypt (an encrypted part beside other parts, or under two
signature layers) govsign refuses too.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from govsign.errors import DecryptionError, MalformedMessageError
from govsign.keys import LocalKey, load_pkcs12
from govsign.pki.trust import TrustStore
from govsign.pki.validate import RevocationMode
from govsign.result import Verdict
from govsign.smime.encryption import decrypt
from govsign.smime.sign_encrypt import decrypt_and_verify
from govsign.smime.verifying import Verifier
from tests.conftest import CORPORA, require_corpus

pytestmark = pytest.mark.corpus

# Inside the corpus certificates' validity (2026-01-26 .. 2031-01-26).
MOMENT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SHA1_PREF = "accept_insecure_sha1"


def _manifest() -> dict[str, Any]:
    path = CORPORA / "thunderbird-smime" / "MANIFEST.json"
    return json.loads(path.read_text()) if path.exists() else {"messages": []}


def _layers_after_envelope(layers: list[dict[str, Any]]) -> list[Any]:
    """The layers below the first enveloped layer, at any depth."""
    for index, layer in enumerate(layers):
        if layer["layer"] == "enveloped":
            return [layer, *layers[index + 1 :]]
        for part in layer.get("parts", []):
            found = _layers_after_envelope(part["layers"])
            if found:
                return found
    return []


def _leaf_texts(layers: list[dict[str, Any]]) -> list[str]:
    texts = []
    for layer in layers:
        if layer["layer"] == "leaf" and layer["text"]:
            texts.append(layer["text"])
        for part in layer.get("parts", []):
            texts += _leaf_texts(part["layers"])
    return texts


def _encrypted_messages() -> list[dict[str, Any]]:
    return [
        m
        for m in _manifest()["messages"]
        if _layers_after_envelope(m.get("openssl_crosscheck") or [])
    ]


def _thunderbird_decrypts(message: dict[str, Any]) -> bool | None:
    stated = [
        e["expected"]["encrypted"]
        for e in message["expectations"]
        if "encrypted" in e["expected"]
    ]
    return any(stated) if stated else None


def _refused_by_thunderbird(message: dict[str, Any]) -> bool:
    if message["file"].endswith("multipart-alternative.eml"):
        return True  # EFAIL gadget: Thunderbird must not leak it in a reply
    return _thunderbird_decrypts(message) is False


def _decrypt_cases() -> list[Any]:
    return [
        pytest.param(m, id=m["file"].split("/")[-1])
        for m in _encrypted_messages()
        if not _refused_by_thunderbird(m)
    ]


def _refusal_cases() -> list[Any]:
    return [
        pytest.param(m, id=m["file"].split("/")[-1])
        for m in _encrypted_messages()
        if _refused_by_thunderbird(m)
    ]


def _verdict_cases() -> list[Any]:
    cases = []
    for message in _encrypted_messages():
        for expectation in message["expectations"]:
            expected = expectation["expected"]
            if not expected.get("encrypted"):
                continue
            if "signature" not in expected and "signed" not in expected:
                continue
            if expected.get("signature", "") is None:
                continue
            sha1 = SHA1_PREF in (expectation.get("prefs") or "")
            name = message["file"].split("/")[-1]
            line = expectation["line"]
            cases.append(
                pytest.param(message, expectation, sha1, id=f"{name}-{line}")
            )
    return cases


@pytest.fixture(scope="module")
def corpus() -> Path:
    return require_corpus("thunderbird-smime")


@cache
def _key(corpus: Path, identity: str) -> LocalKey:
    entry = _manifest()["trust"]["identities"][identity]
    return load_pkcs12(corpus / entry["file"], entry["password"].encode())


def _recipient_of(message: dict[str, Any]) -> str:
    envelope = _layers_after_envelope(message["openssl_crosscheck"])[0]
    return envelope["decrypted_with"] or "Bob"


def _texts(raw: bytes) -> list[str]:
    """Every text part, looking inside opaque signed-data too."""
    texts = []
    for part in email.message_from_bytes(raw).walk():
        smime_type = str(part.get_param("smime-type") or "").lower()
        payload = part.get_payload(decode=True)
        if smime_type == "signed-data" and isinstance(payload, bytes):
            signed = cms.ContentInfo.load(payload)["content"]
            inner = signed["encap_content_info"]["content"].native
            texts += _texts(inner)
        elif part.get_content_maintype() == "text" and payload:
            texts.append(payload.decode("utf-8", "replace"))
    return texts


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("message", _decrypt_cases())
def test_thunderbird_encrypted_message_decrypts(corpus, message):
    raw = (corpus / message["file"]).read_bytes()
    decrypted = decrypt(raw, _key(corpus, _recipient_of(message)))

    layers = _layers_after_envelope(message["openssl_crosscheck"])
    expected = _leaf_texts(layers)
    assert expected
    shown = " ".join(_normal(t) for t in _texts(decrypted.message))
    for text in expected:
        assert _normal(text) in shown
    assert decrypted.result.integrity_protected is (
        decrypted.result.content_encryption.authenticated
    )


@pytest.mark.parametrize(
    "name",
    [
        "outer-pgp-sig-inner-smime-enc.eml",
        "outer-pgp-sig-inner-smime-enc-sig.eml",
    ],
)
def test_openpgp_signed_envelope_for_an_absent_key(corpus, name):
    # No Thunderbird test uses these; their S/MIME envelope (inside an
    # OpenPGP signature, which govsign peels) is addressed to a 2023 key
    # of Bob that the corpus does not ship.  The error must say so.
    raw = (corpus / "smime-manual" / name).read_bytes()
    with pytest.raises(DecryptionError, match="not encrypted for CN=Bob"):
        decrypt(raw, _key(corpus, "Bob"))


@pytest.mark.parametrize("message", _refusal_cases())
def test_thunderbird_refused_message_is_refused(corpus, message):
    raw = (corpus / message["file"]).read_bytes()
    with pytest.raises(MalformedMessageError, match="EFAIL") as info:
        decrypt(raw, _key(corpus, "Bob"))
    assert "SECRET-TEXT" not in str(info.value)


@pytest.fixture(scope="module")
def verifiers(corpus: Path) -> dict[bool, Verifier]:
    # Thunderbird's test CA publishes no revocation data.
    trust = TrustStore.from_pem_file(corpus / "smime" / "TestCA.pem")
    return {
        False: Verifier(trust, revocation=RevocationMode.NO_CHECK),
        True: Verifier(
            trust, revocation=RevocationMode.NO_CHECK, allow_weak=["sha1"]
        ),
    }


@pytest.mark.parametrize("message, expectation, sha1", _verdict_cases())
def test_thunderbird_verdict_after_decryption_matches(
    corpus, verifiers, message, expectation, sha1
):
    raw = (corpus / message["file"]).read_bytes()
    opened = decrypt_and_verify(
        raw,
        _key(corpus, _recipient_of(message)),
        verifiers[sha1],
        at=MOMENT,
    )
    verdict = opened.verification.verdict
    expected = expectation["expected"]
    signature = expected.get("signature")
    if signature == "good" or expected.get("signed") is True:
        assert verdict is Verdict.VALID, opened.verification.problems
        reported = expected.get("reported_signer")
        if reported:
            emails = {
                e.lower() for s in opened.verification.signers for e in s.email
            }
            assert reported.lower() in emails
    elif signature == "bad":
        assert verdict in (Verdict.INVALID, Verdict.INDETERMINATE)
        assert opened.verification.problems
    else:
        # "none/ignored" (an outer signature around the encryption is
        # ignored) or signed: false: nothing signed the decrypted content.
        assert verdict is Verdict.UNSIGNED


def test_corpus_has_the_expected_encrypted_messages():
    # Guards against a manifest change silently emptying the cases above.
    if not (CORPORA / "thunderbird-smime").is_dir():
        require_corpus("thunderbird-smime")
    assert len(_decrypt_cases()) == 30
    assert len(_refusal_cases()) == 10
    assert len(_verdict_cases()) == 39
