"""Encrypt and decrypt a 1 KB and a 10 MB message: govsign beside openssl.

Both use AES-256-GCM (AuthEnvelopedData) with RSA-OAEP/SHA-256 for one
RSA-2048 recipient.  govsign runs in process (as the gateway does);
``openssl cms`` runs a process per message (as a shell script would).
Prints milliseconds per message and the ratio govsign / openssl; asserts
nothing.  Run: ``.venv/bin/python bench/bench_encrypt.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from govsign.keys import LocalKey
from govsign.pki.demo import build_demo_pki
from govsign.smime.encryption import decrypt, encrypt

SIZES = {"1 KB": (1024, 50, 20), "10 MB": (10 * 1024 * 1024, 3, 3)}
OAEP = [
    "-keyopt",
    "rsa_padding_mode:oaep",
    "-keyopt",
    "rsa_oaep_md:sha256",
    "-keyopt",
    "rsa_mgf1_md:sha256",
]


def _message(size: int) -> bytes:
    head = (
        b"From: an.nv@snv.demo.gov.vn\r\nTo: binh.tt@stc.demo.gov.vn\r\n"
        b"Subject: benchmark\r\nContent-Type: text/plain; charset=us-ascii"
        b"\r\n\r\n"
    )
    line = b"x" * 76 + b"\r\n"
    body = line * (max(size - len(head), 0) // len(line) + 1)
    return head + body[: max(size - len(head), 0)]


def _ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _openssl(args: list[str], data: bytes) -> bytes:
    done = subprocess.run(
        ["openssl", "cms", *args], input=data, capture_output=True, check=True
    )
    return done.stdout


def _bench(
    label: str,
    message: bytes,
    key: LocalKey,
    openssl_args: tuple[list[str], list[str]],
    repeats: tuple[int, int],
) -> None:
    encrypt_args, decrypt_args = openssl_args
    repeat, repeat_openssl = repeats
    ours = encrypt(message, [key.certificate])
    theirs = _openssl(encrypt_args, message)
    assert decrypt(theirs, key).entity  # same work on both sides
    rows = [
        (
            "encrypt",
            _ms(lambda: encrypt(message, [key.certificate]), repeat),
            _ms(lambda: _openssl(encrypt_args, message), repeat_openssl),
        ),
        (
            "decrypt",
            _ms(lambda: decrypt(ours, key), repeat),
            _ms(lambda: _openssl(decrypt_args, ours), repeat_openssl),
        ),
    ]
    for name, govsign_ms, openssl_ms in rows:
        print(
            f"{name:<10}{label:>7}{govsign_ms:>12.2f}"
            f"{openssl_ms:>12.2f}{govsign_ms / openssl_ms:>8.2f}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        pki = build_demo_pki(directory / "pki", b"bench")
        key = pki.recipient
        cert = directory / "recipient.crt"
        cert.write_bytes(
            key.certificate.public_bytes(serialization.Encoding.PEM)
        )
        key_file = directory / "recipient.key"
        key_file.write_bytes(
            key.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(key_file, 0o600)
        encrypt_args = ["-encrypt", "-binary", "-aes-256-gcm", "-recip"]
        encrypt_args += [str(cert), *OAEP]
        decrypt_args = ["-decrypt", "-recip", str(cert), "-inkey"]
        decrypt_args += [str(key_file)]

        print(
            f"{'operation':<10}{'size':>7}{'govsign ms':>12}"
            f"{'openssl ms':>12}{'ratio':>8}"
        )
        for label, (size, repeat, repeat_openssl) in SIZES.items():
            _bench(
                label,
                _message(size),
                key,
                (encrypt_args, decrypt_args),
                (repeat, repeat_openssl),
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
