"""ETSI EN 319 102-1 verdicts over time: revocation, expiry, timestamps.

Every scenario runs against the loopback services (CRL server, OCSP
responder, ``openssl ts`` TSA) and checks the indication and
sub-indication EN 319 102-1 prescribes.  Times after "now" are reached by
validating at a chosen moment (``at``), with CRLs issued for that moment.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils

from govsign.cms.timestamp import TSAClient
from govsign.pki.fetch import RevocationFetcher
from govsign.pki.trust import TrustStore
from govsign.pki.validate import PathValidator
from govsign.result import (
    Indication,
    SubIndication,
    Verdict,
    VerificationResult,
)
from govsign.smime.extend import extend_message
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier
from tests.services.pki import OnlinePKI

_SENDER = "an.nv@snv.demo.gov.vn"


def _message(when: dt.datetime) -> bytes:
    return (
        f"From: {_SENDER}\r\nTo: binh.tt@stc.demo.gov.vn\r\n"
        "Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
        f"Date: {email.utils.format_datetime(when)}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Kính gửi Sở Tài chính.\r\n"
    ).encode()


def _signed(pki: OnlinePKI, level: str = "B") -> bytes:
    signed = sign_message(_message(pki.now), pki.signer)
    if level == "B":
        return signed
    validator = PathValidator(
        TrustStore.of(pki.anchors),
        fetcher=RevocationFetcher(timeout=5),
    )
    return extend_message(
        signed, level, tsa=TSAClient(pki.tsa.url), validator=validator
    )


def _crls_at(pki: OnlinePKI, when: dt.datetime) -> list[bytes]:
    """CRLs of both CAs issued at ``when``, valid a week."""
    pki.publish_crls(this_update=when, next_update=when + dt.timedelta(7))
    return [pki.crl("root"), pki.crl("issuing")]


def _outcome(result: VerificationResult) -> tuple[object, object]:
    return result.indication, result.sub_indication


def test_revoked_before_signing_is_total_failed_revoked(
    pki: OnlinePKI,
) -> None:
    pki.issuing.revoke(
        pki.signer.certificate.serial_number, pki.now - dt.timedelta(hours=1)
    )
    signed = _signed(pki)
    verifier = Verifier(
        TrustStore.of(pki.anchors), fetcher=RevocationFetcher(timeout=5)
    )
    result = verifier.verify(signed)
    assert result.verdict is Verdict.INVALID
    assert _outcome(result) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)


def test_revoked_after_timestamped_signing_is_total_passed(
    pki: OnlinePKI,
) -> None:
    signed = _signed(pki, "T")
    revoked = pki.now + dt.timedelta(hours=6)
    pki.issuing.revoke(pki.signer.certificate.serial_number, revoked)
    later = pki.now + dt.timedelta(days=2)
    crls = _crls_at(pki, pki.now + dt.timedelta(days=1))
    result = Verifier(TrustStore.of(pki.anchors), crls=crls).verify(
        signed, at=later
    )
    assert result.verdict is Verdict.VALID, result.problems
    (signer,) = result.signers
    assert signer.level == "T"
    assert signer.best_signature_time is not None
    assert signer.best_signature_time < revoked
    # Valid at signing time, proved by the timestamp, not now.
    assert signer.validated_at == signer.best_signature_time


def test_revoked_after_untimestamped_signing_is_revoked_no_poe(
    pki: OnlinePKI,
) -> None:
    signed = _signed(pki, "B")
    pki.issuing.revoke(
        pki.signer.certificate.serial_number, pki.now + dt.timedelta(hours=6)
    )
    crls = _crls_at(pki, pki.now + dt.timedelta(days=1))
    result = Verifier(TrustStore.of(pki.anchors), crls=crls).verify(
        signed, at=pki.now + dt.timedelta(days=2)
    )
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.REVOKED_NO_POE,
    )


def test_expired_after_timestamped_signing_is_total_passed(
    pki: OnlinePKI,
) -> None:
    pki.signer = pki.issue_signer(not_after=pki.now + dt.timedelta(days=1))
    signed = _signed(pki, "T")
    # CRLs issued after the signature existed show its status then.
    crls = _crls_at(pki, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    result = Verifier(TrustStore.of(pki.anchors), crls=crls).verify(
        signed, at=pki.now + dt.timedelta(days=3)
    )
    assert result.verdict is Verdict.VALID, result.problems
    assert result.signers[0].validated_at == (
        result.signers[0].best_signature_time
    )


def test_expired_without_timestamp_is_out_of_bounds_no_poe(
    pki: OnlinePKI,
) -> None:
    pki.signer = pki.issue_signer(not_after=pki.now + dt.timedelta(days=1))
    signed = _signed(pki, "B")
    crls = [pki.crl("root"), pki.crl("issuing")]
    result = Verifier(TrustStore.of(pki.anchors), crls=crls).verify(
        signed, at=pki.now + dt.timedelta(days=3)
    )
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
    )


def test_ocsp_unreachable_is_try_later(pki: OnlinePKI) -> None:
    # A signer whose certificate names only an OCSP responder.
    pki.issuing.crl_url = None
    pki.signer = pki.issue_signer()
    signed = _signed(pki)
    assert pki.ocsp is not None
    pki.ocsp.stop()
    verifier = Verifier(
        TrustStore.of(pki.anchors), fetcher=RevocationFetcher(timeout=5)
    )
    result = verifier.verify(signed)
    assert result.verdict is Verdict.INDETERMINATE
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    assert any("cannot fetch" in p for p in result.problems), result.problems


def test_stale_crl_is_try_later(pki_crl_only: OnlinePKI) -> None:
    pki = pki_crl_only
    signed = _signed(pki)
    pki.publish_crls(
        this_update=pki.now - dt.timedelta(days=10),
        next_update=pki.now - dt.timedelta(days=3),
    )
    verifier = Verifier(
        TrustStore.of(pki.anchors), fetcher=RevocationFetcher(timeout=5)
    )
    result = verifier.verify(signed)
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )


def test_lt_message_verifies_offline_with_responders_stopped(
    pki: OnlinePKI,
) -> None:
    signed = _signed(pki, "LT")
    pki.stop()  # every responder gone
    offline = Verifier(TrustStore.of(pki.anchors))  # fetches nothing
    result = offline.verify(signed)
    assert result.verdict is Verdict.VALID, result.problems
    assert result.signers[0].level == "LT"
    # And a month later, when the embedded OCSP response and CRLs have
    # long expired: valid at the timestamp's time.
    later = offline.verify(signed, at=pki.now + dt.timedelta(days=30))
    assert later.verdict is Verdict.VALID, later.problems
    assert (
        later.signers[0].validated_at == later.signers[0].best_signature_time
    )


def test_b_message_does_not_verify_offline(pki: OnlinePKI) -> None:
    signed = _signed(pki, "B")
    pki.stop()
    result = Verifier(TrustStore.of(pki.anchors)).verify(signed)
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )


def test_lta_message_verifies_offline(pki: OnlinePKI) -> None:
    signed = _signed(pki, "LTA")
    pki.stop()
    result = Verifier(TrustStore.of(pki.anchors)).verify(
        signed, at=pki.now + dt.timedelta(days=30)
    )
    assert result.verdict is Verdict.VALID, result.problems
    (signer,) = result.signers
    assert signer.level == "LTA"
    kinds = sorted(t.kind for t in signer.timestamps)
    assert kinds == ["archive", "signature"]
    assert all(t.passed for t in signer.timestamps)
    assert signer.evidence is not None
    assert len(signer.evidence.timestamps) == 2


def test_timestamp_over_another_signature_is_not_a_proof(
    pki: OnlinePKI,
) -> None:
    first = _signed(pki, "T")
    other = _message(pki.now).replace(b"\r\n\r\n", b"\r\n\r\nPS.\r\n")
    second = sign_message(other, pki.signer)
    # Graft the first message's timestamp onto the second's signature.
    from govsign.cms import cades
    from govsign.cms.signed import parse_signed_data
    from govsign.smime.extend import signed_layer

    _, der1, _ = signed_layer(first)
    token = cades.signature_timestamps(parse_signed_data(der1).signers[0].info)
    _, der2, _ = signed_layer(second)

    class _Replay(TSAClient):
        def timestamp(self, data: bytes) -> bytes:
            return token[0]

    grafted = cades.add_signature_timestamps(der2, _Replay(pki.tsa.url))
    crls = [pki.crl("root"), pki.crl("issuing")]
    parsed = parse_signed_data(grafted)
    assert cades.level_of(grafted) == "T"
    from govsign.smime import _longterm

    outcome = _longterm.validate_signer(
        PathValidator(TrustStore.of(pki.anchors), crls=crls),
        parsed.signers[0],
        0,
        parsed,
        grafted,
        lambda name: None,
        pki.now + dt.timedelta(minutes=1),
    )
    assert outcome.best_signature_time is None
    (info,) = outcome.timestamps
    assert info.sub_indication is SubIndication.HASH_FAILURE
    assert outcome.path.indication is Indication.INDETERMINATE


def test_lt_message_needs_no_fetch_while_its_data_is_current(
    pki: OnlinePKI,
) -> None:
    signed = _signed(pki, "LT")
    assert pki.ocsp is not None
    before = (pki.ocsp.count("/ocsp"), dict(pki.crl_server.requests))
    verifier = Verifier(
        TrustStore.of(pki.anchors), fetcher=RevocationFetcher(timeout=5)
    )
    assert verifier.verify(signed).verdict is Verdict.VALID
    assert (pki.ocsp.count("/ocsp"), pki.crl_server.requests) == before


def test_archive_timestamp_over_removed_data_is_reported(
    pki: OnlinePKI,
) -> None:
    from govsign.cms import cades
    from govsign.smime.extend import signed_layer

    signed = _signed(pki, "LTA")
    entity, der, _ = signed_layer(signed)
    info = cades._load(der)
    crls = cades._elements(info["content"]["crls"])
    assert len(crls) >= 2
    stripped = cades._rebuild(info, crls=crls[1:])  # one CRL removed
    message = signed.replace(
        bytes(entity.body()).strip(),
        base64.encodebytes(stripped).replace(b"\n", b"\r\n").strip(),
    )
    result = Verifier(
        TrustStore.of(pki.anchors), fetcher=RevocationFetcher(timeout=5)
    ).verify(message)
    (signer,) = result.signers
    archive = [t for t in signer.timestamps if t.kind == "archive"]
    assert len(archive) == 1 and not archive[0].passed
    assert archive[0].sub_indication is SubIndication.HASH_FAILURE
    assert any("removed or changed" in p for p in signer.problems)


def test_crl_older_than_the_timestamp_cannot_vouch_for_it(
    pki: OnlinePKI,
) -> None:
    # Revoked 30 minutes before signing; the only CRL at hand is from an
    # hour before signing (still current then, but blind to the
    # revocation).  EN 319 102-1 5.2.5.4: status at the timestamp needs
    # data issued after it, so this is no proof of validity.
    old_crls = [pki.crl("root"), pki.crl("issuing")]
    pki.issuing.revoke(
        pki.signer.certificate.serial_number,
        pki.now - dt.timedelta(minutes=30),
    )
    signed = sign_message(_message(pki.now), pki.signer)
    signed = extend_message(signed, "T", tsa=TSAClient(pki.tsa.url))
    result = Verifier(TrustStore.of(pki.anchors), crls=old_crls).verify(
        signed, at=pki.now + dt.timedelta(days=10)
    )
    assert result.verdict is Verdict.INDETERMINATE
    assert _outcome(result) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
