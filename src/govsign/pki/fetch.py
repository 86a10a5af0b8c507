"""Fetching CRLs and OCSP responses named in certificates.

A certificate names where its revocation status is published: CRL
distribution points (RFC 5280 4.2.1.13) and an OCSP responder in its
Authority Information Access (RFC 5280 4.2.2.1).  :class:`RevocationFetcher`
gets them over plain HTTP with a timeout and a size limit per object, and
keeps what it got in memory until the object's own nextUpdate.

Fetching is opt-in in the library: a :class:`~govsign.pki.validate.
PathValidator` without a fetcher never goes on the network.  The command
line turns it on by default and off with ``--no-fetch``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

__all__ = [
    "RevocationData",
    "RevocationFetcher",
    "crl_urls",
    "ocsp_urls",
]

log = logging.getLogger(__name__)

_DER = serialization.Encoding.DER
_SCHEMES = ("http://",)


@dataclass
class RevocationData:
    """CRLs and OCSP responses (DER), with what could not be fetched."""

    crls: list[bytes] = field(default_factory=list)
    ocsps: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Cached:
    data: bytes
    until: dt.datetime


class _NoCrossSchemeRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to another http:// address."""

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        if not newurl.startswith(_SCHEMES):
            raise urllib.error.HTTPError(
                newurl, code, "redirect to a non-http URL refused", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The http:// CRL distribution points named in ``cert``."""
    try:
        points = cert.extensions.get_extension_for_class(
            x509.CRLDistributionPoints
        ).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and (
                name.value.startswith(_SCHEMES)
            ):
                urls.append(name.value)
    return urls


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The http:// OCSP responders named in ``cert``'s AIA."""
    try:
        aia = cert.extensions.get_extension_for_class(
            x509.AuthorityInformationAccess
        ).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and d.access_location.value.startswith(_SCHEMES)
    ]


class RevocationFetcher:
    """Fetch CRLs and OCSP responses over HTTP, with a cache.

    ``timeout`` (seconds) bounds each connection and read;
    ``max_crl_bytes`` and ``max_ocsp_bytes`` bound each download, so a
    hostile or broken server cannot exhaust memory.  A fetched object is
    reused until its nextUpdate; one without nextUpdate, or already past
    it, for ``min_refresh`` at most, so a busy gateway does not hammer a
    responder that is down or serves stale data.

    Only http:// URLs are fetched (CRLs and OCSP responses are signed
    objects, RFC 5280 and RFC 6960 publish them over HTTP); LDAP and other
    schemes in a certificate are ignored.  Safe to share between threads.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_crl_bytes: int = 20 * 1024 * 1024,
        max_ocsp_bytes: int = 64 * 1024,
        min_refresh: dt.timedelta = dt.timedelta(minutes=1),
        prefer_ocsp: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_crl_bytes <= 0 or max_ocsp_bytes <= 0:
            raise ValueError("size limits must be positive")
        self.timeout = timeout
        self.max_crl_bytes = max_crl_bytes
        self.max_ocsp_bytes = max_ocsp_bytes
        self.min_refresh = min_refresh
        self.prefer_ocsp = prefer_ocsp
        self._cache: dict[tuple[str, bytes], _Cached] = {}
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(
            _NoCrossSchemeRedirect(),
            # Revocation data is fetched directly: a proxy taken from the
            # environment would be another host the caller did not name.
            urllib.request.ProxyHandler({}),
        )

    def fetch_for(
        self,
        certs: Sequence[x509.Certificate],
        issuers: Iterable[x509.Certificate],
    ) -> RevocationData:
        """Revocation data for each of ``certs`` whose issuer is known.

        ``issuers`` are candidate issuer certificates (the message's
        certificates and the trust anchors).  For each certificate, OCSP is
        tried first (when ``prefer_ocsp``), then its CRLs; a failure is
        logged, recorded in ``problems`` and the next source tried.
        """
        pool = list(issuers) + list(certs)
        out = RevocationData()
        for cert in certs:
            if _self_signed(cert):
                continue
            issuer = _find_issuer(cert, pool)
            got = False
            if self.prefer_ocsp and issuer is not None:
                got = self._try_ocsp(cert, issuer, out)
            if not got:
                got = self._try_crls(cert, out)
            if not got and not self.prefer_ocsp and issuer is not None:
                self._try_ocsp(cert, issuer, out)
        return out

    def _try_ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        out: RevocationData,
    ) -> bool:
        for url in ocsp_urls(cert):
            try:
                raw = self.ocsp(url, cert, issuer)
            except OSError as exc:
                out.problems.append(str(exc))
                continue
            status = ocsp.load_der_ocsp_response(raw).certificate_status
            if status is ocsp.OCSPCertStatus.UNKNOWN:
                # RFC 6960 2.2: "unknown" says nothing either way; look
                # for another source.
                out.problems.append(f"OCSP responder {url}: status unknown")
                continue
            out.ocsps.append(raw)
            return True
        return False

    def _try_crls(self, cert: x509.Certificate, out: RevocationData) -> bool:
        for url in crl_urls(cert):
            try:
                data = self.crl(url)
            except OSError as exc:
                out.problems.append(str(exc))
                continue
            if data not in out.crls:
                out.crls.append(data)
            return True
        return False

    def crl(self, url: str) -> bytes:
        """The DER CRL at ``url``, from the cache while it is current.

        Raises :class:`OSError` when the CRL cannot be fetched or is not a
        CRL (its signature is checked later, by path validation).
        """
        key = (url, b"")
        cached = self._cached(key)
        if cached is not None:
            return cached
        raw = self._get(url, self.max_crl_bytes, None)
        try:
            crl = (
                x509.load_pem_x509_crl(raw)
                if raw.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_crl(raw)
            )
        except ValueError as exc:
            raise OSError(f"not a CRL: {url}") from exc
        der = crl.public_bytes(_DER)
        self._store(key, der, crl.next_update_utc)
        log.debug("fetched CRL %s (%d bytes)", url, len(der))
        return der

    def ocsp(
        self, url: str, cert: x509.Certificate, issuer: x509.Certificate
    ) -> bytes:
        """An OCSP response for ``cert`` from ``url`` (RFC 6960 A.1 POST).

        Raises :class:`OSError` when the responder cannot be reached, does
        not answer "successful", answers for another certificate or
        echoes a wrong nonce.  The response signature is checked later,
        by path validation.
        """
        request_id = cert.fingerprint(hashes.SHA256())
        key = (url, request_id)
        cached = self._cached(key)
        if cached is not None:
            return cached
        nonce = os.urandom(16)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA256())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        raw = self._get(url, self.max_ocsp_bytes, request.public_bytes(_DER))
        try:
            response = ocsp.load_der_ocsp_response(raw)
        except ValueError as exc:
            raise OSError(f"not an OCSP response: {url}") from exc
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise OSError(
                f"OCSP responder {url} answered "
                f"{response.response_status.name.lower()}"
            )
        if response.serial_number != cert.serial_number:
            raise OSError(f"OCSP responder {url} answered for another serial")
        for ext in response.extensions:
            if isinstance(ext.value, x509.OCSPNonce) and (
                ext.value.nonce != nonce
            ):
                raise OSError(f"OCSP responder {url} returned a wrong nonce")
        self._store(key, raw, response.next_update_utc)
        log.debug("fetched OCSP response from %s", url)
        return raw

    def _get(self, url: str, limit: int, body: bytes | None) -> bytes:
        if not url.startswith(_SCHEMES):
            raise OSError(f"not an http URL: {url}")
        headers = {"User-Agent": "govsign"}
        if body is not None:
            headers["Content-Type"] = "application/ocsp-request"
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                data: bytes = resp.read(limit + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            log.warning("cannot fetch %s: %s", url, exc)
            raise OSError(f"cannot fetch {url}: {_reason(exc)}") from exc
        if len(data) > limit:
            log.warning("%s is larger than %d bytes; refused", url, limit)
            raise OSError(f"{url} is larger than {limit} bytes")
        return data

    def _cached(self, key: tuple[str, bytes]) -> bytes | None:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if now >= entry.until:
                del self._cache[key]
                return None
            return entry.data

    def _store(
        self,
        key: tuple[str, bytes],
        data: bytes,
        next_update: dt.datetime | None,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        until = next_update if next_update and next_update > now else None
        if until is None:
            until = now + self.min_refresh
        with self._lock:
            self._cache[key] = _Cached(data, until)

    def clear(self) -> None:
        """Forget every cached object."""
        with self._lock:
            self._cache.clear()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _find_issuer(
    cert: x509.Certificate, pool: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in pool:
        if candidate.subject != cert.issuer or candidate == cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None
