"""An RFC 6960 OCSP responder on 127.0.0.1, built on cryptography.

It answers for the certificates of one
:class:`~govsign.pki.demo.CertificateAuthority`, from that CA's
``revoked`` table at the moment of the request, signing either with a
delegated responder certificate (EKU OCSPSigning) or with the CA key.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from govsign.keys.local import LocalKey
from govsign.pki.demo import CertificateAuthority
from tests.services.loopback import LoopbackServer

__all__ = ["OCSPResponder"]


class OCSPResponder(LoopbackServer):
    """Answer OCSP requests for ``ca``'s certificates.

    ``responder`` is a delegated responder key (None: the CA signs).
    ``clock`` gives the response's thisUpdate/producedAt (default: now);
    ``validity`` is the span to nextUpdate.  ``unknown_serials`` answers
    "unknown" for those serials; every other serial is "good" unless
    revoked in ``ca.revoked``.
    """

    def __init__(
        self,
        ca: CertificateAuthority,
        responder: LocalKey | None = None,
        *,
        validity: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self.ca = ca
        self.responder = responder
        self.validity = validity
        self.clock: dt.datetime | None = None
        self.unknown_serials: set[int] = set()
        super().__init__(self._handle)

    @property
    def url(self) -> str:
        return f"{self.base_url}/ocsp"

    def _handle(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, str, bytes]:
        # RFC 6960 A.1: POST with the DER request, or GET with it in base64
        # in the path.
        if method == "GET":
            encoded = urllib.parse.unquote(path.rsplit("/", 1)[-1])
            try:
                body = base64.b64decode(encoded)
            except ValueError:
                return 400, "text/plain", b"bad request"
        try:
            request = ocsp.load_der_ocsp_request(body)
        except ValueError:
            response = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            )
        else:
            response = self._respond(request)
        return (
            200,
            "application/ocsp-response",
            response.public_bytes(serialization.Encoding.DER),
        )

    def _respond(self, request: ocsp.OCSPRequest) -> ocsp.OCSPResponse:
        now = self.clock or dt.datetime.now(dt.UTC)
        serial = request.serial_number
        subject = _placeholder_certificate(self.ca, serial)
        status = ocsp.OCSPCertStatus.GOOD
        revoked_at = None
        if serial in self.ca.revoked and self.ca.revoked[serial] <= now:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at = self.ca.revoked[serial]
        elif serial in self.unknown_serials:
            status = ocsp.OCSPCertStatus.UNKNOWN
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject,
            issuer=self.ca.certificate,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + self.validity,
            revocation_time=revoked_at,
            revocation_reason=(
                x509.ReasonFlags.key_compromise if revoked_at else None
            ),
        )
        if self.responder is not None:
            signer_key = self.responder.private_key
            builder = builder.responder_id(
                ocsp.OCSPResponderEncoding.HASH, self.responder.certificate
            ).certificates([self.responder.certificate])
        else:
            signer_key = self.ca.key
            builder = builder.responder_id(
                ocsp.OCSPResponderEncoding.HASH, self.ca.certificate
            )
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        return builder.sign(
            signer_key,  # type: ignore[arg-type]
            hashes.SHA256(),
        )


def _placeholder_certificate(
    ca: CertificateAuthority, serial: int
) -> x509.Certificate:
    # cryptography's builder takes the subject certificate only to compute
    # the CertID (issuer name/key hashes and serial), so a certificate with
    # the right serial and issuer stands in for the real one.
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(ca.certificate.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(ca.key.public_key())  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
