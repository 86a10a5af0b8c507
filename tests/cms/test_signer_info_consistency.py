"""Fields outside the signed attributes must agree with what was signed.

A SignerInfo's signatureAlgorithm and the SignedData's eContentType are
not covered by the signature value, so anyone on the path can change
them.  RFC 5652 5.6 and 11.1 and RFC 3370/5753/8419 say what a verifier
must require of them; each test is named after the defect it rejects.
Found by the byte-flip property in tests/property.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from asn1crypto import cms

from govsign.keys.local import LocalKey
from govsign.pki.demo import DemoPKI
from govsign.result import SubIndication, Verdict
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

Change = Callable[[cms.ContentInfo], None]


def _cms_span(signed: bytes) -> tuple[int, int]:
    found = re.search(
        rb'filename="smime\.p7s"\r\n(?:[^\r\n]+\r\n)*\r\n'
        rb"([A-Za-z0-9+/=\r\n]+)",
        signed,
    )
    assert found
    return found.start(1), found.end(1)


def _rewrite(signed: bytes, change: Change) -> bytes:
    """Apply ``change`` to the message's SignedData and put it back.

    Only the changed field is re-encoded: asn1crypto keeps the received
    bytes of everything else, so the signed attributes stay intact.
    """
    start, end = _cms_span(signed)
    info = cms.ContentInfo.load(base64.b64decode(signed[start:end]))
    change(info)
    blob = base64.encodebytes(info.dump()).replace(b"\n", b"\r\n")
    return signed[:start] + blob + signed[end:].lstrip(b"\r\n")


def _signature_algorithm(name: str) -> Change:
    def change(info: cms.ContentInfo) -> None:
        si = info["content"]["signer_infos"][0]
        si["signature_algorithm"] = {"algorithm": name}

    return change


def _econtent_type(name: str) -> Change:
    def change(info: cms.ContentInfo) -> None:
        info["content"]["encap_content_info"] = {"content_type": name}

    return change


@pytest.fixture(scope="module")
def ed25519_signer(demo_pki: DemoPKI) -> LocalKey:
    ca = demo_pki.ministry
    cert = demo_pki.clerk.certificate
    return ca.issue_end_entity(
        "Nguyễn Văn An",
        "Sở Nội vụ tỉnh Demo",
        "an.nv@snv.demo.gov.vn",
        key_spec="ed25519",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def test_rewriting_the_same_algorithm_keeps_the_signature_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    # The control: the rewrite itself does not disturb the signature.
    signed = sign_message(make_message(), demo_pki.clerk)

    same = _rewrite(signed, _signature_algorithm("rsassa_pkcs1v15"))

    assert demo_verifier.verify(same).verdict is Verdict.VALID


def test_unknown_signature_algorithm_oid_on_rsa_key_is_not_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)

    # rsaEncryption with its first arc changed: no algorithm at all.
    changed = _rewrite(signed, _signature_algorithm("1.3.840.113549.1.1.1"))

    result = demo_verifier.verify(changed)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.FORMAT_FAILURE


def test_ecdsa_signature_algorithm_on_rsa_key_is_not_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)

    changed = _rewrite(signed, _signature_algorithm("sha256_ecdsa"))

    result = demo_verifier.verify(changed)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.FORMAT_FAILURE


def test_rsa_signature_algorithm_on_ed25519_key_is_not_valid(
    ed25519_signer: LocalKey, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), ed25519_signer)
    assert demo_verifier.verify(signed).verdict is Verdict.VALID

    changed = _rewrite(signed, _signature_algorithm("sha512_rsa"))

    result = demo_verifier.verify(changed)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.FORMAT_FAILURE


def test_content_type_attribute_differing_from_econtent_type_is_not_valid(
    demo_pki: DemoPKI, demo_verifier: Verifier
) -> None:
    signed = sign_message(make_message(), demo_pki.clerk)

    # RFC 5652 11.1: the signed contentType must equal eContentType; here
    # the unsigned eContentType claims an RFC 3161 TSTInfo.
    changed = _rewrite(signed, _econtent_type("tst_info"))

    result = demo_verifier.verify(changed)
    assert result.verdict is Verdict.INVALID
    assert result.sub_indication is SubIndication.FORMAT_FAILURE
