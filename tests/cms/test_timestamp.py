"""RFC 3161 and CAdES levels against real peers: ``openssl ts``/``cms``.

The TSA is ``openssl ts -reply`` on loopback; the tokens govsign gets
from it must also satisfy ``openssl ts -verify``, and the messages it
raises to LT and LTA must still satisfy ``openssl cms -verify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.cms import cades
from govsign.cms.signed import parse_signed_data
from govsign.cms.timestamp import (
    TimestampError,
    TSAClient,
    parse_timestamp,
    validate_timestamp,
)
from govsign.errors import ConfigurationError
from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore
from govsign.pki.validate import PathValidator
from govsign.result import Indication, SubIndication
from govsign.smime.extend import extend_message, signed_layer
from govsign.smime.signing import sign_message
from tests.conftest import make_message
from tests.services.loopback import LoopbackServer
from tests.services.pki import OnlinePKI
from tests.services.tsa import TSA_POLICY

pytestmark = pytest.mark.interop

_PEM = serialization.Encoding.PEM


def _validator(pki: OnlinePKI, **kw: object) -> PathValidator:
    return PathValidator(
        TrustStore.of(pki.anchors),
        fetcher=RevocationFetcher(timeout=5, **kw),  # type: ignore[arg-type]
    )


def _anchor_file(pki: OnlinePKI, tmp_path: Path) -> Path:
    path = tmp_path / "root.pem"
    path.write_bytes(pki.root.certificate.public_bytes(_PEM))
    return path


def test_openssl_tsa_token_validates(pki: OnlinePKI, tmp_path: Path) -> None:
    data = b"signature value stand-in"
    token = TSAClient(pki.tsa.url).timestamp(data)
    parsed = parse_timestamp(token)
    assert parsed.policy == TSA_POLICY
    assert parsed.imprint == hashlib.sha256(data).digest()
    assert abs(parsed.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(
        minutes=5
    )
    check = validate_timestamp(token, data, _validator(pki))
    assert check.passed, check.problem
    assert check.chain[0] == pki.tsa_key.certificate

    # The peer agrees: openssl ts -verify over the same data and token.
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "token.der").write_bytes(token)
    proc = subprocess.run(
        [
            "openssl", "ts", "-verify", "-token_in",
            "-in", str(tmp_path / "token.der"),
            "-data", str(tmp_path / "data"),
            "-CAfile", str(_anchor_file(pki, tmp_path)),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_token_over_other_data_is_hash_failure(pki: OnlinePKI) -> None:
    token = TSAClient(pki.tsa.url).timestamp(b"one")
    check = validate_timestamp(token, b"two", _validator(pki))
    assert (check.indication, check.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )


def test_token_from_untrusted_tsa_is_not_a_proof(pki: OnlinePKI) -> None:
    token = TSAClient(pki.tsa.url).timestamp(b"data")
    # Anchored elsewhere: the signer's own certificate as the only root.
    stranger = PathValidator(TrustStore.of([pki.signer.certificate]))
    check = validate_timestamp(token, b"data", stranger)
    assert check.indication is Indication.INDETERMINATE
    assert not check.passed


def test_tsa_unreachable_is_a_timestamp_error(pki: OnlinePKI) -> None:
    url = pki.tsa.url
    pki.tsa.stop()
    with pytest.raises(TimestampError, match="cannot reach TSA"):
        TSAClient(url, timeout=5).timestamp(b"data")


def test_tsa_refusing_is_a_timestamp_error() -> None:
    def refuse(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        return 200, "application/timestamp-reply", b"\x30\x03\x02\x01\x02"

    with LoopbackServer(refuse) as server:
        with pytest.raises(TimestampError, match="refused|no timestamp"):
            TSAClient(f"{server.base_url}/tsa", timeout=5).timestamp(b"x")


def test_non_http_tsa_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        TSAClient("file:///tmp/tsa")


def test_tsa_hash_must_be_strong() -> None:
    with pytest.raises(ConfigurationError):
        TSAClient("http://127.0.0.1:9/tsa", hash_algorithm="sha1")


def _openssl_cms_verify(
    message: bytes, pki: OnlinePKI, tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "m.eml").write_bytes(message)
    return subprocess.run(
        [
            "openssl", "cms", "-verify", "-in", str(tmp_path / "m.eml"),
            "-CAfile", str(_anchor_file(pki, tmp_path)),
            "-purpose", "any", "-out", "/dev/null", *extra,
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("level", ["T", "LT", "LTA"])
def test_levels_keep_the_signature_valid_for_openssl(
    pki: OnlinePKI, tmp_path: Path, level: str
) -> None:
    signed = sign_message(make_message(), pki.signer)
    # CRLs rather than OCSP, so that openssl (which reads only CRLs from
    # the CMS) can check revocation from what LT embedded.
    raised = extend_message(
        signed,
        level,
        tsa=TSAClient(pki.tsa.url),
        validator=_validator(pki, prefer_ocsp=False),
    )
    _, der, content = signed_layer(raised)
    _, original_der, original_content = signed_layer(signed)
    assert content == original_content
    assert cades.level_of(der) == level
    extra = ("-crl_check_all",) if level != "T" else ()
    proc = _openssl_cms_verify(raised, pki, tmp_path, *extra)
    assert proc.returncode == 0, proc.stderr


def test_lt_embeds_chain_and_revocation_data(pki: OnlinePKI) -> None:
    signed = sign_message(make_message(), pki.signer)
    raised = extend_message(
        signed, "LT", tsa=TSAClient(pki.tsa.url), validator=_validator(pki)
    )
    parsed = parse_signed_data(signed_layer(raised)[1])
    assert pki.root.certificate in parsed.certificates
    assert pki.tsa_key.certificate in parsed.certificates
    assert pki.crl("root") in parsed.crls
    assert len(parsed.ocsps) == 1  # the signer's, from the responder


def test_extend_is_idempotent_per_level(pki: OnlinePKI) -> None:
    tsa = TSAClient(pki.tsa.url)
    signed = sign_message(make_message(), pki.signer)
    once = extend_message(signed, "T", tsa=tsa)
    twice = extend_message(once, "T", tsa=tsa)
    assert once == twice
    assert pki.tsa.count("/tsa") == 1


def test_lt_needs_a_valid_signer_now(pki: OnlinePKI) -> None:
    from govsign.errors import SigningError

    pki.issuing.revoke(
        pki.signer.certificate.serial_number,
        pki.now - dt.timedelta(minutes=1),
    )
    signed = sign_message(make_message(), pki.signer)
    with pytest.raises(SigningError, match="does not validate"):
        extend_message(
            signed,
            "LT",
            tsa=TSAClient(pki.tsa.url),
            validator=_validator(pki),
        )


def test_tsa_certificate_usage_rules(pki: OnlinePKI) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from govsign.cms.timestamp import _tsa_usage_problem

    assert _tsa_usage_problem(pki.tsa_key.certificate) is None
    window = {
        "not_before": pki.now - dt.timedelta(days=1),
        "not_after": pki.now + dt.timedelta(days=1),
    }
    ocsp_signer = pki.root.issue_service(
        "Not a TSA", "Test", ExtendedKeyUsageOID.OCSP_SIGNING, **window
    )
    assert "not timeStamping" in str(
        _tsa_usage_problem(ocsp_signer.certificate)
    )
    soft = pki.root.issue_end_entity(
        "Soft TSA",
        "Test",
        "tsa@snv.demo.gov.vn",
        key_spec="p256",
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        **window,
    )
    assert "not critical" in str(_tsa_usage_problem(soft.certificate))
    assert "no extended key usage" in str(
        _tsa_usage_problem(pki.root.certificate)
    )


def test_archive_timestamp_v3_structure(pki: OnlinePKI) -> None:
    import hashlib as _h

    from asn1crypto import parser

    signed = sign_message(make_message(), pki.signer)
    raised = extend_message(
        signed, "LTA", tsa=TSAClient(pki.tsa.url), validator=_validator(pki)
    )
    _, der, content = signed_layer(raised)
    info = cades._load(der)
    signed_data = info["content"]
    si = signed_data["signer_infos"][0]
    (ats,) = cades._attr_values(si, cades.ARCHIVE_TIME_STAMP_V3)
    token = cades._load(cades._raw(ats))
    (tsa_si,) = list(token["content"]["signer_infos"])
    # EN 319 122-1 V1.1.1: ats-hash-index-v3 is 0.4.0.19122.1.5, in the
    # archive timestamp token's unsigned attributes.
    (index_value,) = cades._attr_values(tsa_si, "0.4.0.19122.1.5")
    outer = parser.parse(cades._raw(index_value))
    children = []
    rest = outer[4]
    while rest:
        child = parser.parse(rest, strict=False)
        size = len(child[3]) + len(child[4]) + len(child[5])
        children.append(rest[:size])
        rest = rest[size:]
    assert len(children) == 4  # hashIndAlgorithm written out
    index = cades._load_index(cades._raw(index_value))
    assert index["hash_ind_algorithm"]["algorithm"].native == "sha256"
    certs = cades._elements(signed_data["certificates"])
    assert [h.native for h in index["certificates_hash_index"]] == [
        _h.sha256(c).digest() for c in certs
    ]
    # One unsigned attribute value before the archive timestamp: the
    # signature timestamp, hashed as attrType || AttributeValue.
    (tst_attr,) = [
        a
        for a in cades._unsigned(si)
        if a["type"].dotted == cades.SIGNATURE_TIME_STAMP
    ]
    expected = _h.sha256(
        cades._raw(tst_attr["type"]) + cades._raw(tst_attr["values"][0])
    ).digest()
    assert [h.native for h in index["unsigned_attrs_hash_index"]] == [expected]
    # The imprint covers what the standard lists, recomputed here.
    (stamp,) = cades.archive_stamps(
        der, 0, lambda name: _h.new(name, content).digest()
    )
    assert stamp.missing is None
    assert (
        parse_timestamp(stamp.token).imprint
        == _h.sha256(stamp.covered).digest()
    )


def test_archive_timestamp_survives_later_additions(pki: OnlinePKI) -> None:
    signed = sign_message(make_message(), pki.signer)
    raised = extend_message(
        signed, "LTA", tsa=TSAClient(pki.tsa.url), validator=_validator(pki)
    )
    entity, der, content = signed_layer(raised)
    # More validation data after the archive timestamp: still covered
    # entries all present, so the archive timestamp still holds.
    more = cades.add_validation_data(der, crls=[pki.crl("issuing")])
    (stamp,) = cades.archive_stamps(
        more, 0, lambda name: hashlib.new(name, content).digest()
    )
    assert stamp.missing is None
    check = validate_timestamp(stamp.token, stamp.covered, _validator(pki))
    assert check.passed, check.problem


def test_opaque_signed_message_reaches_lta(
    pki: OnlinePKI, tmp_path: Path
) -> None:
    from govsign.smime.verifying import Verifier

    signed = sign_message(make_message(), pki.signer, opaque=True)
    raised = extend_message(
        signed, "LTA", tsa=TSAClient(pki.tsa.url), validator=_validator(pki)
    )
    assert b"application/pkcs7-mime" in raised.split(b"\r\n\r\n", 1)[0]
    proc = _openssl_cms_verify(raised, pki, tmp_path)
    assert proc.returncode == 0, proc.stderr
    pki.stop()
    result = Verifier(TrustStore.of(pki.anchors)).verify(raised)
    assert result.valid, result.problems
    assert result.signers[0].level == "LTA"
