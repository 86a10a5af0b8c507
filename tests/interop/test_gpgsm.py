"""GnuPG's gpgsm verifies what govsign signs.

gpgsm (GnuPG 2.2) is a third, independent CMS implementation (libksba
and libgcrypt).  It runs offline here: ``--disable-dirmngr`` and
``--disable-crl-checks`` (revocation is proven against openssl), the
demo root marked trusted in ``trustlist.txt``.  Its verdict is read from
the ``--status-fd`` lines GOODSIG / BADSIG and TRUST_FULLY.

Not covered: gpgsm 2.2.40 cannot import govsign's .p12 files (PBES2 with
AES-256: "encryptedData error at pkcs5PBES2-params"), so gpgsm-made
signatures need a key exported in the legacy 3DES form first; those are
left to a follow-up.  gpgsm starts a gpg-agent for its home directory,
which the fixture stops with ``gpgconf --kill all`` for that directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from govsign.keys import HashName
from govsign.smime._mime import decode_body, parse_entity
from govsign.smime.signing import sign_message
from tests.interop import _material as m
from tests.interop.conftest import SENDER, DemoSigners, write
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
    env_home = ["--homedir", str(home)]
    try:
        run_tool(
            ["gpgsm", *env_home, *_OFFLINE, "--import", demo.pki.trust_file]
        )
        fingerprint = demo.pki.root.certificate.fingerprint(hashes.SHA1())
        colon_hex = ":".join(f"{b:02X}" for b in fingerprint)
        (home / "trustlist.txt").write_text(f"{colon_hex} S relax\n")
        yield home
    finally:
        run_tool(["gpgconf", "--homedir", home, "--kill", "all"], check=False)


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
