"""A certificate in a signature that govsign cannot read is reported.

The certificates in a SignedData are not covered by the signature, so
anyone on the path can change them.  Found by flipping every byte of a
signature (tests/property): each case below used to escape
:meth:`Verifier.verify` as an exception from cryptography or
asn1crypto instead of coming back as a result.  Each is named after the
defect in the certificate.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.pki.demo import DemoPKI
from govsign.result import Verdict, VerificationResult
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.conftest import make_message

_DER = serialization.Encoding.DER
_RSA_ENCRYPTION_OID = bytes.fromhex("06092a864886f70d010101")
_SKI_OID = bytes.fromhex("0603551d0e")


def _cms_span(signed: bytes) -> tuple[int, int]:
    found = re.search(
        rb'filename="smime\.p7s"\r\n(?:[^\r\n]+\r\n)*\r\n'
        rb"([A-Za-z0-9+/=\r\n]+)",
        signed,
    )
    assert found
    return found.start(1), found.end(1)


def _with_changed_certificate(
    signed: bytes, cert_der: bytes, change: Callable[[bytes], bytes]
) -> bytes:
    start, end = _cms_span(signed)
    der = base64.b64decode(signed[start:end])
    changed_cert = change(cert_der)
    assert len(changed_cert) == len(cert_der)
    assert der.count(cert_der) == 1
    der = der.replace(cert_der, changed_cert)
    blob = base64.encodebytes(der).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return signed[:start] + blob + b"\r\n" + signed[end:].lstrip(b"\r\n")


def _set_byte(data: bytes, offset: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[offset] = value
    return bytes(changed)


def _version_3_to_4(cert: bytes) -> bytes:
    # TBSCertificate's "[0] INTEGER 2" (v3): 4 is no X.509 version.
    at = cert.index(bytes.fromhex("a003020102"))
    return _set_byte(cert, at + 4, 0x03)


def _subject_string_tag_to_context(cert: bytes, subject: bytes) -> bytes:
    # The first attribute value of the subject (a PrintableString "VN")
    # gets a context-specific tag no Name may contain.
    at = cert.index(subject) + subject.index(b"\x13\x02VN")
    return _set_byte(cert, at, 0x93)


def _key_identifier_oid_to_key_usage(cert: bytes) -> bytes:
    # subjectKeyIdentifier (2.5.29.14) becomes a second keyUsage.
    at = cert.index(_SKI_OID)
    return _set_byte(cert, at + 4, 0x0F)


def _key_algorithm_to_unknown_oid(cert: bytes) -> bytes:
    # rsaEncryption 1.2.840.113549.1.1.1 becomes 1.3.840...: no key type.
    at = cert.index(_RSA_ENCRYPTION_OID)
    return _set_byte(cert, at + 2, 0x2B)


def _issuer_string_to_numeric_string(cert: bytes) -> bytes:
    # PrintableString "VN" in the name becomes a NumericString, which the
    # X.520 DirectoryString does not allow.
    at = cert.index(b"\x13\x02VN")
    return _set_byte(cert, at, 0x12)


@pytest.fixture(scope="module")
def signed(demo_pki: DemoPKI) -> bytes:
    return sign_message(make_message(), demo_pki.clerk)


def _verify(verifier: Verifier, message: bytes) -> VerificationResult:
    return verifier.verify(message)


def test_signer_certificate_with_invalid_version_is_reported_not_raised(
    demo_pki: DemoPKI, demo_verifier: Verifier, signed: bytes
) -> None:
    leaf = demo_pki.clerk.certificate.public_bytes(_DER)
    changed = _with_changed_certificate(signed, leaf, _version_3_to_4)

    result = _verify(demo_verifier, changed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is not None
    assert result.sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"


def test_signer_certificate_with_unparsable_subject_is_reported_not_raised(
    demo_pki: DemoPKI, demo_verifier: Verifier, signed: bytes
) -> None:
    cert = demo_pki.clerk.certificate
    leaf = cert.public_bytes(_DER)
    subject = cert.subject.public_bytes()
    changed = _with_changed_certificate(
        signed, leaf, lambda c: _subject_string_tag_to_context(c, subject)
    )

    result = _verify(demo_verifier, changed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is not None
    assert result.sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"


def test_signer_certificate_with_duplicate_extension_is_reported_not_raised(
    demo_pki: DemoPKI, demo_verifier: Verifier, signed: bytes
) -> None:
    leaf = demo_pki.clerk.certificate.public_bytes(_DER)
    changed = _with_changed_certificate(
        signed, leaf, _key_identifier_oid_to_key_usage
    )

    result = _verify(demo_verifier, changed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is not None
    assert result.sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"


def test_signer_certificate_with_unknown_key_algorithm_is_reported_not_raised(
    demo_pki: DemoPKI, demo_verifier: Verifier, signed: bytes
) -> None:
    leaf = demo_pki.clerk.certificate.public_bytes(_DER)
    changed = _with_changed_certificate(
        signed, leaf, _key_algorithm_to_unknown_oid
    )

    result = _verify(demo_verifier, changed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is not None
    assert result.sub_indication.value == "NO_SIGNING_CERTIFICATE_FOUND"


def test_intermediate_with_name_asn1crypto_rejects_is_reported_not_raised(
    demo_pki: DemoPKI, demo_verifier: Verifier, signed: bytes
) -> None:
    intermediate = demo_pki.ministry.certificate.public_bytes(_DER)
    changed = _with_changed_certificate(
        signed, intermediate, _issuer_string_to_numeric_string
    )

    result = _verify(demo_verifier, changed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.sub_indication is not None
    assert result.sub_indication.value == "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    assert "cannot be parsed" in " ".join(result.problems)
