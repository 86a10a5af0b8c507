"""RFC 3161 timestamps: ask a TSA for one, read one, validate one.

A timestamp token is a CMS SignedData whose content is a TSTInfo: the TSA
signs the hash of some data (the message imprint) with the time it saw
it.  govsign asks for tokens over a signature value (CAdES level T) and
over a whole signature with its validation data (level LTA), and checks,
on reading, that the imprint matches, that the TSA's signature holds, and
that the TSA certificate is for timestamping and chains to a trusted
anchor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from govsign.cms.signed import (
    ParsedSignedData,
    check_signer_info,
    digest_content,
    parse_signed_data,
)
from govsign.errors import (
    ConfigurationError,
    GovsignError,
    MalformedMessageError,
)
from govsign.pki.validate import PathValidator
from govsign.result import Indication, SubIndication

__all__ = [
    "TimestampError",
    "TimestampToken",
    "TimestampCheck",
    "TSAClient",
    "parse_timestamp",
    "validate_timestamp",
]

log = logging.getLogger(__name__)

_ACCEPTED_HASHES = ("sha256", "sha384", "sha512")


class TimestampError(GovsignError):
    """A TSA could not be reached or gave no usable token."""


@dataclass(frozen=True)
class TimestampToken:
    """A parsed RFC 3161 TimeStampToken (RFC 3161 2.4.2)."""

    der: bytes
    gen_time: dt.datetime
    hash_algorithm: str
    imprint: bytes
    policy: str
    serial: int
    nonce: int | None
    signed: ParsedSignedData

    @property
    def tsa_certificate(self) -> x509.Certificate | None:
        return self.signed.signers[0].certificate if self.signed else None


@dataclass(frozen=True)
class TimestampCheck:
    """What validating one token established.

    ``indication`` is TOTAL-PASSED only if the imprint matches, the TSA's
    signature holds and the TSA certificate is valid for timestamping.
    ``chain`` runs from the TSA certificate to the anchor; ``crls`` and
    ``ocsps`` are the revocation data about it that were used.
    """

    token: TimestampToken
    indication: Indication
    sub_indication: SubIndication | None
    chain: tuple[x509.Certificate, ...] = ()
    problem: str | None = None
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED


def parse_timestamp(der: bytes) -> TimestampToken:
    """Parse a TimeStampToken (a DER ContentInfo).

    Raises :class:`MalformedMessageError` if it is not one.
    """
    signed = parse_signed_data(der)
    if signed.content_type != "tst_info" or signed.content is None:
        raise MalformedMessageError(
            "the timestamp token does not hold a TSTInfo"
        )
    if len(signed.signers) != 1:
        raise MalformedMessageError("a timestamp token has one signer")
    try:
        info = tsp.TSTInfo.load(signed.content)
        imprint = info["message_imprint"]
        gen_time = info["gen_time"].native
        token = TimestampToken(
            der=der,
            gen_time=gen_time,
            hash_algorithm=imprint["hash_algorithm"]["algorithm"].native,
            imprint=imprint["hashed_message"].native,
            policy=info["policy"].dotted,
            serial=info["serial_number"].native,
            nonce=info["nonce"].native,
            signed=signed,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedMessageError(
            f"the timestamp token's TSTInfo is malformed: {exc}"
        ) from exc
    if gen_time.tzinfo is None:
        raise MalformedMessageError("the timestamp time has no time zone")
    return token


def _tsa_usage_problem(cert: x509.Certificate) -> str | None:
    # RFC 3161 2.3: the TSA certificate has extended key usage
    # timeStamping only, and the extension is critical.
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the TSA certificate has no extended key usage"
    if list(ext.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        return "the TSA certificate's extended key usage is not timeStamping"
    if not ext.critical:
        return "the TSA certificate's extended key usage is not critical"
    return None


def validate_timestamp(
    token_der: bytes,
    data: bytes,
    validator: PathValidator,
    *,
    moment: dt.datetime | None = None,
    poe_time: dt.datetime | None = None,
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
) -> TimestampCheck:
    """Check that ``token_der`` timestamps ``data`` and comes from a TSA.

    The TSA certificate is validated with ``validator`` (the same anchors
    and revocation policy as the signers) at ``moment`` (default now).
    When that fails only for a reason time cures (revocation data no
    longer current, TSA certificate expired or revoked since), it is
    validated at ``poe_time`` (a later archive timestamp's time), or else
    at the token's own time with revocation data that covers that time
    (CAdES-LT: the data embedded when the token was fresh).  ``crls`` and
    ``ocsps`` are such data, as embedded in the message.  Raises
    :class:`MalformedMessageError` for a token that cannot be parsed;
    every other failure is in the returned check.
    """
    token = parse_timestamp(token_der)
    signer = token.signed.signers[0]

    # RFC 3161 2.4.2: the imprint is the hash of the timestamped data.
    if token.hash_algorithm not in _ACCEPTED_HASHES:
        return TimestampCheck(
            token,
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            problem=f"timestamp imprint uses {token.hash_algorithm}",
        )
    if hashlib.new(token.hash_algorithm, data).digest() != token.imprint:
        return TimestampCheck(
            token,
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
            problem="the timestamp is not over this signature",
        )

    # RFC 5652 5.4: the TSA's signature over the TSTInfo.
    assert token.signed.content is not None
    check = check_signer_info(
        signer,
        digest_content(signer.digest_algorithm, [token.signed.content]),
    )
    if check.failure is not None:
        sub = {
            "hash": SubIndication.HASH_FAILURE,
            "crypto": SubIndication.SIG_CRYPTO_FAILURE,
            "weak": SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
        }.get(check.failure, SubIndication.FORMAT_FAILURE)
        indication = (
            Indication.INDETERMINATE
            if sub is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
            else Indication.TOTAL_FAILED
        )
        return TimestampCheck(
            token, indication, sub, problem=f"timestamp: {check.reason}"
        )
    cert = signer.certificate
    assert cert is not None  # check_signer_info found it
    usage = _tsa_usage_problem(cert)
    if usage:
        return TimestampCheck(
            token,
            Indication.INDETERMINATE,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            problem=usage,
        )

    # The TSA's own chain, to the same anchors as the signers'.
    others = [c for c in token.signed.certificates if c != cert]
    outcome = validator.validate(
        cert,
        others,
        moment=moment,
        poe_time=poe_time or token.gen_time,
        crls=[*token.signed.crls, *crls],
        ocsps=[*token.signed.ocsps, *ocsps],
        usage="any",
        fresh_after_poe=False,
    )
    if not outcome.passed:
        return TimestampCheck(
            token,
            outcome.indication,
            outcome.sub_indication,
            problem=f"timestamp authority: {outcome.message}",
        )
    if not (
        cert.not_valid_before_utc <= token.gen_time <= cert.not_valid_after_utc
    ):
        return TimestampCheck(
            token,
            Indication.TOTAL_FAILED,
            SubIndication.NOT_YET_VALID,
            problem="the timestamp time is outside the TSA certificate",
        )
    return TimestampCheck(
        token,
        Indication.TOTAL_PASSED,
        None,
        chain=outcome.chain,
        crls=outcome.crls,
        ocsps=outcome.ocsps,
    )


class TSAClient:
    """Ask an RFC 3161 TSA for tokens over HTTP (RFC 3161 3.4).

    ``url`` must be http:// or https://; ``timeout`` (seconds) bounds
    each exchange and ``max_bytes`` the response.  Each request carries a
    fresh nonce and asks for the TSA's certificate; the token returned is
    checked against the request (imprint, nonce) before it is used.
    """

    def __init__(
        self,
        url: str,
        *,
        hash_algorithm: str = "sha256",
        timeout: float = 15.0,
        max_bytes: int = 256 * 1024,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"TSA URL must be http(s): {url}")
        if hash_algorithm not in _ACCEPTED_HASHES:
            raise ConfigurationError(
                f"TSA hash must be one of {', '.join(_ACCEPTED_HASHES)}"
            )
        self.url = url
        self.hash_algorithm = hash_algorithm
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({})
        )

    def timestamp(self, data: bytes) -> bytes:
        """Return a TimeStampToken (DER) over ``data``.

        Raises :class:`TimestampError` when the TSA cannot be reached,
        refuses, or answers with a token for something else.
        """
        digest = hashlib.new(self.hash_algorithm, data).digest()
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": self.hash_algorithm},
                    "hashed_message": digest,
                },
                "nonce": nonce,
                "cert_req": True,
            }
        )
        raw = self._post(request.dump())
        try:
            response = tsp.TimeStampResp.load(raw)
            status = response["status"]["status"].native
            token = response["time_stamp_token"]
        except (ValueError, TypeError, KeyError) as exc:
            raise TimestampError(
                f"TSA {self.url} sent no timestamp response"
            ) from exc
        if status not in ("granted", "granted_with_mods"):
            text = response["status"]["status_string"].native
            raise TimestampError(
                f"TSA {self.url} refused: {status} {text or ''}".strip()
            )
        der = bytes(token.dump())
        try:
            parsed = parse_timestamp(der)
        except MalformedMessageError as exc:
            raise TimestampError(f"TSA {self.url}: {exc}") from exc
        if parsed.imprint != digest or parsed.nonce != nonce:
            raise TimestampError(
                f"TSA {self.url} answered for another request"
            )
        log.info(
            "timestamp from %s at %s", self.url, parsed.gen_time.isoformat()
        )
        return der

    def _post(self, body: bytes) -> bytes:
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={
                "Content-Type": "application/timestamp-query",
                "User-Agent": "govsign",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                data: bytes = resp.read(self.max_bytes + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            log.warning("TSA %s unreachable: %s", self.url, exc)
            raise TimestampError(
                f"cannot reach TSA {self.url}: {exc}"
            ) from exc
        if len(data) > self.max_bytes:
            raise TimestampError(f"TSA {self.url} sent too large a reply")
        return data
