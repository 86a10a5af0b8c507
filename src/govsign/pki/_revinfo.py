"""Revocation data at hand during one path validation (internal).

What a validation has (supplied, embedded, fetched), which of it concerns
a chain, which of it may vouch for a signer at a proof-of-existence time,
and which certificates may have their revocation URLs contacted at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from govsign.result import SubIndication

log = logging.getLogger(__name__)


@dataclass
class Revinfo:
    """CRLs and OCSP responses (parsed), and the fetch failures."""

    crls: list[asn1_crl.CertificateList]
    ocsps: list[asn1_ocsp.OCSPResponse]
    problems: list[str]


CURABLE_BY_POE = frozenset(
    {
        SubIndication.REVOKED_NO_POE,
        SubIndication.REVOKED_CA_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
        SubIndication.TRY_LATER,
    }
)
"""Failures now that a proof of existence at an earlier time can cure."""


def issued_after(
    revinfo: Revinfo, signer: x509.Certificate, poe_time: dt.datetime
) -> Revinfo:
    """``revinfo`` without data about ``signer`` issued before ``poe_time``.

    CRLs from the signer's issuer and OCSP responses for its serial must
    be issued at or after the proof of existence (one second of clock
    tolerance); everything else (about CA certificates) is kept.
    """
    cutoff = poe_time - dt.timedelta(seconds=1)
    issuer = signer.issuer.public_bytes()
    crls = [
        c
        for c in revinfo.crls
        if c["tbs_cert_list"]["issuer"].dump() != issuer
        or c["tbs_cert_list"]["this_update"].native >= cutoff
    ]
    ocsps = []
    for response in revinfo.ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            singles = basic["tbs_response_data"]["responses"]
            about_signer = [
                r
                for r in singles
                if r["cert_id"]["serial_number"].native == signer.serial_number
            ]
        except (KeyError, TypeError, ValueError):
            continue
        if all(r["this_update"].native >= cutoff for r in about_signer):
            ocsps.append(response)
    return Revinfo(crls, ocsps, revinfo.problems)


def chain_candidates(
    signer: x509.Certificate,
    others: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
) -> list[x509.Certificate]:
    """The signer and its intermediates, if they chain to an anchor.

    Each link's signature is checked before anything is fetched, so that
    only addresses a trusted CA wrote into a certificate are ever
    contacted: a forged certificate cannot point the verifier (a mail
    gateway) at an internal host.  Returns [] when no such chain exists.
    """
    chain = [signer]
    current = signer
    while len(chain) <= len(others) + 1:
        for root in roots:
            if root.subject == current.issuer and _issued_by(current, root):
                return chain
        parent = next(
            (
                c
                for c in others
                if c.subject == current.issuer
                and c not in chain
                and _issued_by(current, c)
            ),
            None,
        )
        if parent is None:
            break
        chain.append(parent)
        current = parent
    log.debug("no signed chain to an anchor: nothing fetched")
    return []


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def about_chain(
    chain: Sequence[x509.Certificate], revinfo: Revinfo
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The CRLs and OCSP responses that concern ``chain``, as DER."""
    names = {c.subject.public_bytes() for c in chain}
    serials = {c.serial_number for c in chain}
    crls: list[bytes] = []
    for crl in revinfo.crls:
        issuer = crl["tbs_cert_list"]["issuer"].dump()
        der = crl.dump()
        if issuer in names and der not in crls:
            crls.append(der)
    ocsps: list[bytes] = []
    for response in revinfo.ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            singles = basic["tbs_response_data"]["responses"]
            ids = {s["cert_id"]["serial_number"].native for s in singles}
        except (KeyError, TypeError, ValueError):
            continue
        der = response.dump()
        if ids & serials and der not in ocsps:
            ocsps.append(der)
    return tuple(crls), tuple(ocsps)
