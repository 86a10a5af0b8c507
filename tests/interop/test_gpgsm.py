"""GnuPG's gpgsm verifies what govsign signs.

gpgsm (GnuPG 2.2) is a third, independent CMS implementation (libksba
and libgcrypt).  It runs offline here: ``--disable-dirmngr`` and
``--disable-crl-checks`` (revocation is proven against openssl), the
demo root marked trusted in ``trustlist.txt``.  Its verdict is read from
the ``--status-fd`` lines GOODSIG / BADSIG and TRUST_FULLY.

gpgsm also signs (``--detach-sign``) and govsign says ``valid``.  gpgsm
2.2.40 cannot import govsign's own .p12 files (PBES2 with AES-256:
"encryptedData error at pkcs5PBES2-params"), so the key goes through
``openssl pkcs12`` into the legacy 3DES form first: a compatibility note
for agencies whose clerks use GnuPG/Kleopatra 2.2.  gpgsm starts a
gpg-agent for its home directory, which the fixture stops with
``gpgconf --kill all`` for that directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from govsign.keys import HashName
from govsign.result import Verdict
from govsign.smime._mime import decode_body, parse_entity
from govsign.smime.signing import sign_message
from tests.interop import _material as m
from tests.interop.conftest import DEMO_PASSWORD, SENDER, DemoSigners, write
from tests.interop.test_nss import wrap
from tests.peers import require_tool, run_tool

pytestmark = pytest.mark.interop

_OFFLINE = ["--batch", "--disable-dirmngr", "--disable-crl-checks"]


@pytest.fixture(scope="module")
def gnupg_home(
    tmp_path_factory: pytest.TempPathFactory, demo: DemoSigners
) -> Iterator[Path]:
    require_tool("gpgsm", package="gpgsm")
    require_tool("gpgconf", package="gpgconf")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    # Before the agent starts: let gpgsm pass the key's passphrase itself.
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    env_home = ["--homedir", str(home)]
    try:
        run_tool(
            ["gpgsm", *env_home, *_OFFLINE, "--import", demo.pki.trust_file]
        )
        fingerprint = demo.pki.root.certificate.fingerprint(hashes.SHA1())
        colon_hex = ":".join(f"{b:02X}" for b in fingerprint)
        (home / "trustlist.txt").write_text(f"{colon_hex} S relax\n")
        _import_key(home, demo.pki.p12_files["clerk"])
        yield home
    finally:
        run_tool(["gpgconf", "--homedir", home, "--kill", "all"], check=False)


def _import_key(home: Path, p12: Path) -> None:
    """Import a govsign .p12 into gpgsm, via openssl's 3DES form."""
    password = DEMO_PASSWORD.decode()
    pem = home / "key-and-chain.pem"
    legacy = home / "legacy.p12"
    try:
        run_tool(
            [
                "openssl",
                "pkcs12",
                "-in",
                p12,
                "-nodes",
                "-passin",
                f"pass:{password}",
                "-out",
                pem,
            ]
        )
        run_tool(
            [
                "openssl",
                "pkcs12",
                "-export",
                "-in",
                pem,
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
                "-passout",
                f"pass:{password}",
                "-out",
                legacy,
            ]
        )
    finally:
        pem.unlink(missing_ok=True)
    run_tool(
        [
            "gpgsm",
            "--homedir",
            home,
            *_OFFLINE,
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--import",
            legacy,
        ],
        stdin=DEMO_PASSWORD + b"\n",
    )


def gpgsm_sign(
    home: Path, signer: str, content: bytes, tmp_path: Path, digest: str
) -> bytes:
    """``gpgsm --detach-sign``, whole chain included (``--include-certs``)."""
    data = write(tmp_path / "to-sign.txt", content)
    out = tmp_path / "gpgsm.p7s"
    run_tool(
        [
            "gpgsm",
            "--homedir",
            home,
            *_OFFLINE,
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--digest-algo",
            digest,
            "--include-certs",
            "-1",
            "-u",
            signer,
            "--detach-sign",
            "--output",
            out,
            data,
        ],
        stdin=DEMO_PASSWORD + b"\n",
    )
    return out.read_bytes()


def gpgsm_verify(
    home: Path, signature: bytes, content: bytes, tmp_path: Path
) -> list[str]:
    """The [GNUPG:] status keywords of ``gpgsm --verify``."""
    sig = write(tmp_path / "sig.der", signature)
    data = write(tmp_path / "content.bin", content)
    done = run_tool(
        [
            "gpgsm",
            "--homedir",
            home,
            *_OFFLINE,
            "--status-fd",
            "1",
            "--verify",
            sig,
            data,
        ],
        check=False,
    )
    return [
        line.split()[1].decode()
        for line in done.stdout.splitlines()
        if line.startswith(b"[GNUPG:] ")
    ]


def _detached(signed: bytes) -> tuple[bytes, bytes]:
    content, signature = parse_entity(signed).children
    return bytes(signed[content.start : content.end]), decode_body(signature)


CASES = [
    ("rsa2048", HashName.SHA256, False),
    ("rsa2048", HashName.SHA512, False),
    ("rsa2048", HashName.SHA256, True),
    ("p256", HashName.SHA256, False),
    ("p384", HashName.SHA384, False),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{k}-{'pss-' if p else ''}{d.value}" for k, d, p in CASES],
)
def test_gpgsm_reports_good_trusted_signature_for_what_govsign_signs(
    demo: DemoSigners,
    gnupg_home: Path,
    tmp_path: Path,
    case: tuple[str, HashName, bool],
) -> None:
    kind, digest, pss = case
    signed = sign_message(
        m.letter(SENDER), demo.by_kind[kind], digest=digest, pss=pss
    )
    content, signature = _detached(signed)

    status = gpgsm_verify(gnupg_home, signature, content, tmp_path)

    assert "GOODSIG" in status
    assert "VALIDSIG" in status
    assert "TRUST_FULLY" in status


def test_gpgsm_reports_bad_signature_for_a_changed_govsign_message(
    demo: DemoSigners, gnupg_home: Path, tmp_path: Path
) -> None:
    signed = sign_message(m.letter(SENDER), demo.pki.clerk)
    content, signature = _detached(signed)
    changed = m.change_byte(content, len(content) // 2)

    status = gpgsm_verify(gnupg_home, signature, changed, tmp_path)

    assert "BADSIG" in status
    assert "GOODSIG" not in status


@pytest.mark.parametrize("digest", ["SHA256", "SHA512"])
def test_govsign_accepts_what_gpgsm_signs(
    demo: DemoSigners, gnupg_home: Path, tmp_path: Path, digest: str
) -> None:
    entity = m.entity().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    # By fingerprint: the verify tests leave other certificates for the
    # same address in the keybox.
    clerk = demo.pki.clerk.certificate.fingerprint(hashes.SHA1()).hex()
    der = gpgsm_sign(gnupg_home, f"0x{clerk}", entity, tmp_path, digest)
    message = wrap(SENDER, entity, der, detached=True)
    v = m.verifier(demo.pki.trust_file, demo.pki.crl_files)

    result = v.verify(message)

    assert result.verdict is Verdict.VALID, result.problems
    (signer,) = result.signers
    assert signer.email == (SENDER,)
    assert signer.digest_algorithm == digest.lower()
    changed = wrap(
        SENDER, m.change_byte(entity, len(entity) // 2), der, detached=True
    )
    assert v.verify(changed).verdict is Verdict.INVALID
