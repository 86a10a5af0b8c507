"""Adding levels never re-encodes what the message already carries.

asn1crypto normalises some encodings when it writes a parsed value back
(BIT STRINGs with unused bits, as in the unique identifiers of NIST PKITS
4.3.6's UID CA); a re-encoded certificate no longer matches its issuer's
signature.  Every element govsign copies must stay byte for byte.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.cms import cades
from govsign.cms.signed import original_der, parse_signed_data
from govsign.pki.demo import DemoPKI
from govsign.smime.extend import signed_layer
from govsign.smime.signing import sign_message
from tests.conftest import make_message
from tests.services.corpora import corpus


def test_asn1crypto_re_encodes_the_uid_ca() -> None:
    # The defect this module guards against, shown on the real input.
    der = (corpus("pkits") / "certs" / "UIDCACert.crt").read_bytes()
    assert original_der(asn1_x509.Certificate.load(der)) == der
    assert asn1_x509.Certificate.load(der).dump() != der


def test_certificate_with_unique_ids_survives_lt_twice(
    demo_pki: DemoPKI,
) -> None:
    der = (corpus("pkits") / "certs" / "UIDCACert.crt").read_bytes()
    uid_ca = x509.load_der_x509_certificate(der)
    _, cms_der, _ = signed_layer(sign_message(make_message(), demo_pki.clerk))
    once = cades.add_validation_data(cms_der, certificates=[uid_ca])
    # The second pass copies the first pass's certificates back out.
    crl = demo_pki.crls[0].public_bytes(serialization.Encoding.DER)
    twice = cades.add_validation_data(once, crls=[crl])
    for blob in (once, twice):
        parsed = parse_signed_data(blob)
        assert uid_ca in parsed.certificates
        assert der in blob
        assert parsed.signers[0].certificate == demo_pki.clerk.certificate
    assert cades.level_of(twice) == "B"  # data alone is no level


def test_signed_attributes_are_kept_byte_for_byte(demo_pki: DemoPKI) -> None:
    _, cms_der, _ = signed_layer(sign_message(make_message(), demo_pki.clerk))
    before = parse_signed_data(cms_der).signers[0]
    after = parse_signed_data(
        cades.add_validation_data(
            cms_der, certificates=[demo_pki.root.certificate]
        )
    ).signers[0]
    assert original_der(after.info["signed_attrs"]) == original_der(
        before.info["signed_attrs"]
    )
    assert after.info["signature"].native == before.info["signature"].native
