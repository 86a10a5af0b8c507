"""An online test PKI: CAs whose certificates point at loopback services.

:func:`online_pki` starts a CRL server, an OCSP responder for the issuing
CA and an ``openssl ts`` TSA, all on 127.0.0.1, then issues certificates
that name them, so that fetching, timestamping and long-term evidence are
exercised end to end without any other host.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from govsign.keys.local import LocalKey
from govsign.pki.demo import CertificateAuthority
from tests.services.crl_server import CRLServer
from tests.services.loopback import LoopbackServer
from tests.services.ocsp import OCSPResponder
from tests.services.tsa import OpenSSLTSA

__all__ = ["OnlinePKI", "online_pki"]

_DER = serialization.Encoding.DER


@dataclass
class OnlinePKI:
    """Root CA -> issuing CA -> signer and TSA, with their services."""

    now: dt.datetime
    root: CertificateAuthority
    issuing: CertificateAuthority
    signer: LocalKey
    tsa_key: LocalKey
    crl_server: CRLServer
    ocsp: OCSPResponder | None
    tsa: OpenSSLTSA
    servers: list[LoopbackServer] = field(default_factory=list)

    def publish_crls(
        self,
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        number: int = 1,
    ) -> None:
        """Issue and publish fresh CRLs of both CAs."""
        start = this_update or self.now - dt.timedelta(hours=1)
        end = next_update or start + dt.timedelta(days=7)
        for name, ca in (("root", self.root), ("issuing", self.issuing)):
            crl = ca.issue_crl(
                this_update=start, next_update=end, number=number
            )
            self.crl_server.publish(f"/{name}.crl", crl.public_bytes(_DER))

    def crl(self, name: str) -> bytes:
        """The DER CRL currently published as ``name`` ("root")."""
        return self.crl_server._files[f"/{name}.crl"]

    def issue_signer(
        self, *, not_after: dt.datetime | None = None
    ) -> LocalKey:
        """Issue another S/MIME signer below the issuing CA."""
        return self.issuing.issue_end_entity(
            "Nguyễn Văn An",
            "Sở Nội vụ tỉnh Demo",
            "an.nv@snv.demo.gov.vn",
            not_before=self.now - dt.timedelta(days=1),
            not_after=not_after or self.now + dt.timedelta(days=365),
        )

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [self.root.certificate]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def online_pki(*, with_ocsp: bool = True) -> OnlinePKI:
    """Build and start an :class:`OnlinePKI`; call ``stop()`` after."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    crl_server = CRLServer().start()
    servers: list[LoopbackServer] = [crl_server]
    try:
        root = CertificateAuthority.new_root(
            "Test Government Root CA",
            "Ban Cơ yếu Chính phủ (test)",
            key_spec="p256",
            not_before=now - dt.timedelta(days=30),
            not_after=now + dt.timedelta(days=3650),
        )
        root.crl_url = crl_server.url("/root.crl")
        issuing = root.issue_ca(
            "Test Ministry CA",
            "Bộ Nội vụ (test)",
            key_spec="p256",
            not_before=now - dt.timedelta(days=30),
            not_after=now + dt.timedelta(days=1825),
        )
        issuing.crl_url = crl_server.url("/issuing.crl")
        ocsp = None
        if with_ocsp:
            ocsp = OCSPResponder(issuing)
            ocsp.start()
            servers.append(ocsp)
            ocsp.responder = issuing.issue_service(
                "Test OCSP Responder",
                "Bộ Nội vụ (test)",
                ExtendedKeyUsageOID.OCSP_SIGNING,
                key_spec="p256",
                not_before=now - dt.timedelta(days=1),
                not_after=now + dt.timedelta(days=365),
            )
            issuing.ocsp_url = ocsp.url
        tsa_key = root.issue_service(
            "Test Timestamping Unit",
            "Ban Cơ yếu Chính phủ (test)",
            ExtendedKeyUsageOID.TIME_STAMPING,
            key_spec="p256",
            not_before=now - dt.timedelta(days=30),
            not_after=now + dt.timedelta(days=3650),
        )
        tsa = OpenSSLTSA(tsa_key).start()
        servers.append(tsa)
        pki = OnlinePKI(
            now=now,
            root=root,
            issuing=issuing,
            signer=None,  # type: ignore[arg-type]
            tsa_key=tsa_key,
            crl_server=crl_server,
            ocsp=ocsp,
            tsa=tsa,
            servers=servers,
        )
        pki.signer = pki.issue_signer()
        pki.publish_crls()
        return pki
    except BaseException:
        for server in servers:
            server.stop()
        raise
