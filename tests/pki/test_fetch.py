"""Fetching revocation data from the loopback CRL server and responder."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.pki.fetch import RevocationFetcher, crl_urls, ocsp_urls
from govsign.pki.trust import TrustStore
from govsign.pki.validate import PathValidator, RevocationMode
from govsign.result import Indication, SubIndication
from tests.services.crl_server import CRLServer
from tests.services.pki import OnlinePKI

_DER = serialization.Encoding.DER


def _validator(pki: OnlinePKI, **kw: object) -> PathValidator:
    trust = TrustStore.of(pki.anchors)
    return PathValidator(trust, **kw)  # type: ignore[arg-type]


def test_certificates_name_the_loopback_services(pki: OnlinePKI) -> None:
    cert = pki.signer.certificate
    assert crl_urls(cert) == [pki.crl_server.url("/issuing.crl")]
    assert pki.ocsp is not None
    assert ocsp_urls(cert) == [pki.ocsp.url]


def test_fetched_ocsp_and_crl_validate_the_path(pki: OnlinePKI) -> None:
    validator = _validator(pki, fetcher=RevocationFetcher(timeout=5))
    outcome = validator.validate(
        pki.signer.certificate, [pki.issuing.certificate]
    )
    assert outcome.passed, outcome.message
    assert pki.ocsp is not None and pki.ocsp.count("/ocsp") == 1
    # The signer's status came by OCSP, the CA's by the root's CRL.
    assert len(outcome.ocsps) == 1
    assert outcome.crls == (pki.crl("root"),)


def test_fetching_off_fetches_nothing(pki: OnlinePKI) -> None:
    outcome = _validator(pki).validate(
        pki.signer.certificate, [pki.issuing.certificate]
    )
    assert (outcome.indication, outcome.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    assert pki.ocsp is not None and pki.ocsp.requests == {}
    assert pki.crl_server.requests == {}


def test_cache_reuses_a_crl_until_its_next_update(
    pki_crl_only: OnlinePKI,
) -> None:
    pki = pki_crl_only
    fetcher = RevocationFetcher(timeout=5)
    url = pki.crl_server.url("/issuing.crl")
    first = fetcher.crl(url)
    second = fetcher.crl(url)
    assert first == second
    assert pki.crl_server.count("/issuing.crl") == 1
    fetcher.clear()
    fetcher.crl(url)
    assert pki.crl_server.count("/issuing.crl") == 2


def test_stale_crl_is_not_kept_past_min_refresh(
    pki_crl_only: OnlinePKI,
) -> None:
    pki = pki_crl_only
    pki.publish_crls(
        this_update=pki.now - dt.timedelta(days=10),
        next_update=pki.now - dt.timedelta(days=3),
    )
    fetcher = RevocationFetcher(timeout=5, min_refresh=dt.timedelta(0))
    url = pki.crl_server.url("/issuing.crl")
    fetcher.crl(url)
    fetcher.crl(url)
    assert pki.crl_server.count("/issuing.crl") == 2


def test_oversized_crl_is_refused(pki_crl_only: OnlinePKI) -> None:
    fetcher = RevocationFetcher(timeout=5, max_crl_bytes=100)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        fetcher.crl(pki_crl_only.crl_server.url("/issuing.crl"))


def test_not_a_crl_is_refused() -> None:
    with CRLServer() as server:
        url = server.publish("/junk.crl", b"<html>not a CRL</html>")
        with pytest.raises(OSError, match="not a CRL"):
            RevocationFetcher(timeout=5).crl(url)


def test_missing_crl_is_a_fetch_problem() -> None:
    with CRLServer() as server:
        with pytest.raises(OSError, match="HTTP 404"):
            RevocationFetcher(timeout=5).crl(server.url("/absent.crl"))


def test_non_http_url_is_never_fetched() -> None:
    with pytest.raises(OSError, match="not an http URL"):
        RevocationFetcher().crl("file:///etc/passwd")
    with pytest.raises(OSError, match="not an http URL"):
        RevocationFetcher().crl("ldap://127.0.0.1/cn=ca")


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        RevocationFetcher(timeout=0)
    with pytest.raises(ValueError, match="size limits"):
        RevocationFetcher(max_crl_bytes=0)


def test_ocsp_revoked_status_is_reported(pki: OnlinePKI) -> None:
    revoked_at = pki.now - dt.timedelta(minutes=5)
    pki.issuing.revoke(pki.signer.certificate.serial_number, revoked_at)
    outcome = _validator(pki, fetcher=RevocationFetcher(timeout=5)).validate(
        pki.signer.certificate,
        [pki.issuing.certificate],
        signing_time=pki.now,
    )
    assert (outcome.indication, outcome.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.REVOKED,
    )
    assert outcome.revocation_time == revoked_at


def test_ocsp_unknown_falls_short(pki: OnlinePKI) -> None:
    assert pki.ocsp is not None
    pki.ocsp.unknown_serials.add(pki.signer.certificate.serial_number)
    # Unknown is no proof of good status; the CRL still decides.
    outcome = _validator(pki, fetcher=RevocationFetcher(timeout=5)).validate(
        pki.signer.certificate, [pki.issuing.certificate]
    )
    assert outcome.passed, outcome.message
    assert pki.crl_server.count("/issuing.crl") == 1
    assert outcome.ocsps == ()
    assert pki.crl("issuing") in outcome.crls


def test_soft_fail_is_an_explicit_logged_choice(
    pki: OnlinePKI, caplog: pytest.LogCaptureFixture
) -> None:
    assert pki.ocsp is not None
    pki.ocsp.stop()
    pki.crl_server.stop()
    validator = _validator(
        pki,
        fetcher=RevocationFetcher(timeout=5),
        revocation=RevocationMode.SOFT_FAIL,
    )
    assert "revocation checking weakened" in caplog.text
    outcome = validator.validate(
        pki.signer.certificate, [pki.issuing.certificate]
    )
    assert outcome.passed


def test_load_helpers_round_trip(pki: OnlinePKI) -> None:
    crl = x509.load_der_x509_crl(pki.crl("issuing"))
    assert crl.issuer == pki.issuing.certificate.subject
    assert crl.public_bytes(_DER) == pki.crl("issuing")


def test_forged_certificate_cannot_make_the_verifier_fetch(
    pki: OnlinePKI,
) -> None:
    # An attacker's own CA writes a "CRL" address of an internal service
    # into its certificate (a loopback server stands in for that host).
    from govsign.pki.demo import CertificateAuthority

    with CRLServer() as internal:
        forger = CertificateAuthority.new_root(
            "Test Ministry CA",  # the trusted CA's name, another key
            "Bộ Nội vụ (test)",
            key_spec="p256",
            not_before=pki.now - dt.timedelta(days=1),
            not_after=pki.now + dt.timedelta(days=30),
        )
        forger.crl_url = internal.url("/admin/delete-everything")
        forged = forger.issue_end_entity(
            "Nguyễn Văn An",
            "Sở Nội vụ tỉnh Demo",
            "an.nv@snv.demo.gov.vn",
            key_spec="p256",
            not_before=pki.now - dt.timedelta(days=1),
            not_after=pki.now + dt.timedelta(days=30),
        )
        validator = _validator(pki, fetcher=RevocationFetcher(timeout=5))
        outcome = validator.validate(
            forged.certificate, [forger.certificate, pki.issuing.certificate]
        )
        assert not outcome.passed
        assert internal.requests == {}
