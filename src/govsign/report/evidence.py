"""Evidence bundles: what a verdict rested on, kept for the auditor.

Circular 15/2025 asks a verifier to keep the signer's certificate, the
revocation data of the signing time and the status result.
:func:`write_evidence` writes them into a directory, with the reports and
a manifest of SHA-256 hashes (``MANIFEST.json``, and ``SHA256SUMS`` for
``sha256sum -c``), so that anyone can check later that nothing in the
bundle was changed or left out.

Layout::

    message.eml                 the message as verified
    report.vi.txt report.en.txt report.json report.html
    signer-1/certificate-1.pem  the signer, then its chain to the anchor,
    signer-1/certificate-2.pem  then the TSAs' chains
    signer-1/crl-1.crl          DER CRLs used (supplied, fetched, embedded)
    signer-1/ocsp-1.der         DER OCSP responses used
    signer-1/timestamp-1.tst    DER timestamp tokens (RFC 3161)
    MANIFEST.json  SHA256SUMS
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.errors import ConfigurationError
from govsign.report.html import render_html
from govsign.report.text import render_json, render_text
from govsign.result import VerificationResult

__all__ = ["write_evidence", "MANIFEST_NAME"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"


def write_evidence(
    result: VerificationResult,
    message: bytes,
    directory: str | Path,
    *,
    include_message: bool = True,
) -> Path:
    """Write the evidence bundle of ``result`` into ``directory``.

    ``directory`` must not exist or be empty: a bundle is never mixed
    with another.  ``include_message=False`` leaves the message itself
    out (its hash is still in the manifest), for mail that may not be
    copied.  Returns the manifest's path.  Raises
    :class:`ConfigurationError` when the directory is unusable.
    """
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise ConfigurationError(f"evidence directory {root} is not empty")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot use evidence directory {root}: {exc.strerror}"
        ) from exc

    files: list[dict[str, object]] = []

    def put(name: str, data: bytes, kind: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(
            {
                "path": name,
                "kind": kind,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )

    try:
        if include_message:
            put("message.eml", message, "message")
        put("report.vi.txt", render_text(result, "vi").encode(), "report")
        put("report.en.txt", render_text(result, "en").encode(), "report")
        put("report.json", render_json(result).encode(), "report")
        put("report.html", render_html(result, "vi").encode(), "report")
        for number, signer in enumerate(result.signers, start=1):
            evidence = signer.evidence
            if evidence is None:
                continue
            folder = f"signer-{number}"
            for i, der in enumerate(evidence.certificates, start=1):
                pem = x509.load_der_x509_certificate(der).public_bytes(
                    serialization.Encoding.PEM
                )
                put(f"{folder}/certificate-{i}.pem", pem, "certificate")
            for i, der in enumerate(evidence.crls, start=1):
                put(f"{folder}/crl-{i}.crl", der, "crl")
            for i, der in enumerate(evidence.ocsps, start=1):
                put(f"{folder}/ocsp-{i}.der", der, "ocsp-response")
            for i, der in enumerate(evidence.timestamps, start=1):
                put(f"{folder}/timestamp-{i}.tst", der, "timestamp-token")
        manifest = {
            "created": dt.datetime.now(dt.UTC).isoformat(),
            "validation_time": result.validation_time.isoformat(),
            "verdict": result.verdict.value,
            "message_sha256": hashlib.sha256(message).hexdigest(),
            "files": files,
        }
        manifest_path = root / MANIFEST_NAME
        manifest_path.write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
        (root / "SHA256SUMS").write_text(
            "".join(f"{f['sha256']}  {f['path']}\n" for f in files),
            encoding="utf-8",
        )
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write evidence to {root}: {exc.strerror}"
        ) from exc
    log.info("evidence bundle written to %s (%d files)", root, len(files))
    return manifest_path
