"""Revocation and timestamp services for tests, on 127.0.0.1 only.

Each service is an HTTP server bound to the loopback interface on a port
the kernel picks, run in a daemon thread, started and stopped by the test
that needs it (or by a fixture).  Nothing here talks to any other host.

- :class:`~tests.services.crl_server.CRLServer` serves CRL files by path.
- :class:`~tests.services.ocsp.OCSPResponder` answers RFC 6960 requests
  from a :class:`~govsign.pki.demo.CertificateAuthority`'s revocation list.
- :class:`~tests.services.tsa.OpenSSLTSA` wraps ``openssl ts -reply`` (a
  real RFC 3161 peer) behind a loopback HTTP endpoint.
"""
