"""govsign and NSS (Thunderbird's S/MIME engine) verify each other.

Directions proven here, with NSS's ``cmsutil`` and ``certutil``/
``pk12util`` from libnss3-tools:

- govsign signs, ``cmsutil -D`` reports ``GoodSignature`` against an NSS
  database trusting only the demo root ("C,C,C"): detached (``-c``
  content) and opaque, RSA PKCS#1 v1.5 SHA-256/384/512, RSA-PSS, ECDSA
  P-256/P-384; a changed byte gives ``DigestMismatch``;
- NSS signs (``cmsutil -S -G -P -H``, detached with ``-T`` and opaque)
  with keys imported from .p12 files (govsign's demo CA and the openssl
  PKI), the DER is wrapped in multipart/signed or application/pkcs7-mime,
  and govsign says ``valid``.

What cmsutil cannot do, and how the tests cope:

- its exit status is 0 even when a signature is bad: the verdict is read
  from the ``-h`` report line ``signerN.status=...``;
- it has no option to sign with RSA-PSS, so NSS-made signatures are RSA
  PKCS#1 v1.5 and ECDSA only;
- NSS 3.87 does not handle Ed25519 in CMS (``ProcessingError``), which
  ``test_nss_ed25519_cms_support_is_detected`` records;
- it does not check revocation, so CRL outcomes are proven against
  openssl (test_openssl_sign_verify.py), not here.
"""

from __future__ import annotations

import base64
import email.utils
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from govsign.keys import HashName
from govsign.pki.demo import write_pkcs12
from govsign.result import Verdict
from govsign.smime._mime import decode_body, parse_entity
from govsign.smime.signing import sign_message
from tests.interop import _material as m
from tests.interop.conftest import SENDER, DemoSigners, write
from tests.openssl_pki import Leaf, OpensslPKI
from tests.peers import require_tool, run_tool

pytestmark = pytest.mark.interop

P12_PASSWORD = "nss-interop-p12"
_STATUS = re.compile(rb"signer(\d+)\.status=([A-Za-z]+)")


@dataclass(frozen=True)
class NssDb:
    """An NSS database with the demo and openssl roots trusted."""

    path: Path

    @property
    def spec(self) -> str:
        return f"sql:{self.path}"


@pytest.fixture(scope="module")
def nss_tools() -> None:
    for tool in ("certutil", "cmsutil", "pk12util"):
        require_tool(tool, package="libnss3-tools")


@pytest.fixture(scope="module")
def ossl_leaves(ossl_pki: OpensslPKI) -> dict[str, Leaf]:
    return {
        kind: ossl_pki.issue(
            f"Phạm Thị Dung ({kind})",
            f"dung.{kind}@snv.interop.gov.vn",
            key_spec=kind,
        )
        for kind in ("rsa2048", "p256", "p384")
    }


@pytest.fixture(scope="module")
def nss_db(
    tmp_path_factory: pytest.TempPathFactory,
    nss_tools: None,
    demo: DemoSigners,
    ossl_pki: OpensslPKI,
    ossl_leaves: dict[str, Leaf],
) -> NssDb:
    directory = tmp_path_factory.mktemp("nssdb")
    db = NssDb(directory)
    run_tool(["certutil", "-N", "-d", db.spec, "--empty-password"])
    for nick, root in (
        ("demo-root", demo.pki.trust_file),
        ("openssl-root", ossl_pki.trust_file),
    ):
        run_tool(
            [
                "certutil",
                "-A",
                "-d",
                db.spec,
                "-n",
                nick,
                "-t",
                "C,C,C",
                "-i",
                root,
            ]
        )

    # Signing keys: govsign's demo clerk and the openssl leaves, as .p12.
    clerk_p12 = directory / "clerk.p12"
    write_pkcs12(clerk_p12, demo.pki.clerk, P12_PASSWORD.encode(), "clerk")
    p12s = {"clerk": clerk_p12}
    for kind, leaf in ossl_leaves.items():
        p12s[kind] = leaf.pkcs12(
            directory / f"{kind}.p12", P12_PASSWORD, f"dung-{kind}"
        )
    for path in p12s.values():
        run_tool(
            [
                "pk12util",
                "-i",
                path,
                "-d",
                db.spec,
                "-W",
                P12_PASSWORD,
                "-K",
                "",
            ]
        )
    return db


def nss_decode(
    db: NssDb, signature: bytes, tmp_path: Path, content: bytes | None
) -> tuple[list[str], bytes]:
    """cmsutil -D: per-signer statuses and what it printed.

    The exit code says nothing about the signature, and ``-h`` writes its
    report to the same stream as the content, so both come from stdout.
    """
    sig = write(tmp_path / f"sig-{secrets.token_hex(4)}.der", signature)
    argv: list[str | Path] = [
        "cmsutil",
        "-D",
        "-i",
        sig,
        "-d",
        db.spec,
        "-h",
        "3",
    ]
    if content is not None:
        argv += ["-c", write(tmp_path / "content.bin", content), "-n"]
    done = run_tool(argv, check=False)
    statuses = [s.decode() for _, s in _STATUS.findall(done.stdout)]
    return statuses, done.stdout


def nss_statuses(
    db: NssDb, signature: bytes, tmp_path: Path, content: bytes | None
) -> list[str]:
    """Just the per-signer statuses of :func:`nss_decode`."""
    return nss_decode(db, signature, tmp_path, content)[0]


def split_signed(message: bytes) -> tuple[bytes | None, bytes]:
    """(signed content or None if opaque, CMS DER) as govsign parses it."""
    root = parse_entity(message)
    if root.content_type == "multipart/signed":
        content, signature = root.children
        return bytes(message[content.start : content.end]), decode_body(
            signature
        )
    return None, decode_body(root)


def nss_sign(
    db: NssDb,
    nickname: str,
    content: bytes,
    tmp_path: Path,
    *,
    digest: str,
    detached: bool,
) -> bytes:
    """cmsutil -S: signing time (-G), S/MIME capabilities (-P)."""
    source = write(tmp_path / "to-sign.txt", content)
    out = tmp_path / "nss-signed.der"
    argv: list[str | Path] = [
        "cmsutil",
        "-S",
        "-N",
        nickname,
        "-G",
        "-P",
        "-H",
        digest,
        "-i",
        source,
        "-o",
        out,
        "-d",
        db.spec,
        "-p",
        "",
    ]
    if detached:
        argv.append("-T")
    run_tool(argv)
    return out.read_bytes()


def wrap(sender: str, entity: bytes, der: bytes, *, detached: bool) -> bytes:
    """Put NSS's DER into a mail message, as Thunderbird would."""
    headers = (
        f"From: {sender}\r\n"
        "To: binh.tt@stc.demo.gov.vn\r\n"
        "Subject: NSS interop\r\n"
        f"Date: {email.utils.formatdate()}\r\n"
        "MIME-Version: 1.0\r\n"
    ).encode()
    blob = base64.encodebytes(der).replace(b"\n", b"\r\n")
    if not detached:
        return (
            headers
            + b"Content-Type: application/pkcs7-mime; smime-type=signed-data;"
            b' name="smime.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + blob
        )
    boundary = b"nss-" + secrets.token_hex(8).encode()
    return (
        headers + b'Content-Type: multipart/signed; protocol="application/'
        b'pkcs7-signature"; micalg=sha-256; boundary="' + boundary + b'"\r\n'
        b"\r\n--"
        + boundary
        + b"\r\n"
        + entity
        + b"\r\n--"
        + boundary
        + b"\r\nContent-Type: application/pkcs7-signature; "
        b'name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + blob
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )


def _crlf_entity() -> bytes:
    # NSS signs the bytes it is given: hand it the canonical form.
    return m.entity().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ------------------------------------------------ govsign signs, NSS


GOVSIGN_CASES = [
    ("rsa2048", HashName.SHA256, False),
    ("rsa2048", HashName.SHA384, False),
    ("rsa2048", HashName.SHA512, False),
    ("rsa2048", HashName.SHA256, True),
    ("p256", HashName.SHA256, False),
    ("p384", HashName.SHA384, False),
]


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
@pytest.mark.parametrize(
    "case",
    GOVSIGN_CASES,
    ids=[f"{k}-{'pss-' if p else ''}{d.value}" for k, d, p in GOVSIGN_CASES],
)
def test_nss_reports_good_signature_for_what_govsign_signs(
    demo: DemoSigners,
    nss_db: NssDb,
    tmp_path: Path,
    case: tuple[str, HashName, bool],
    opaque: bool,
) -> None:
    kind, digest, pss = case
    signed = sign_message(
        m.letter(SENDER),
        demo.by_kind[kind],
        opaque=opaque,
        digest=digest,
        pss=pss,
    )
    content, der = split_signed(signed)

    statuses, printed = nss_decode(nss_db, der, tmp_path, content)

    assert statuses == ["GoodSignature"]
    if opaque:
        assert b"\nContent-Type: multipart/mixed" in printed


def test_nss_reports_digest_mismatch_for_a_changed_govsign_message(
    demo: DemoSigners, nss_db: NssDb, tmp_path: Path
) -> None:
    signed = sign_message(m.letter(SENDER), demo.pki.clerk)
    start, end = m.signed_entity_span(signed)
    changed = m.change_byte(signed, (start + end) // 2)
    content, der = split_signed(changed)
    v = m.verifier(demo.pki.trust_file, demo.pki.crl_files)

    statuses = nss_statuses(nss_db, der, tmp_path, content)

    assert statuses == ["DigestMismatch"]
    assert v.verify(changed).verdict is Verdict.INVALID


def test_nss_does_not_trust_a_govsign_signer_under_an_unknown_root(
    nss_tools: None, demo: DemoSigners, tmp_path: Path
) -> None:
    empty = NssDb(tmp_path / "empty-db")
    empty.path.mkdir()
    run_tool(["certutil", "-N", "-d", empty.spec, "--empty-password"])
    content, der = split_signed(sign_message(m.letter(SENDER), demo.pki.clerk))

    statuses = nss_statuses(empty, der, tmp_path, content)

    assert statuses == ["SigningCertNotTrusted"]


def test_nss_ed25519_cms_support_is_detected(
    demo: DemoSigners, nss_db: NssDb, tmp_path: Path
) -> None:
    # NSS 3.87 has no Ed25519 CMS; govsign's own check still passes.
    signed = sign_message(m.letter(SENDER), demo.by_kind["ed25519"])
    content, der = split_signed(signed)
    own = m.verifier(demo.pki.trust_file, demo.pki.crl_files).verify(signed)
    assert own.verdict is Verdict.VALID

    statuses = nss_statuses(nss_db, der, tmp_path, content)

    assert statuses in (["ProcessingError"], ["GoodSignature"])


# ------------------------------------------------ NSS signs, govsign


NSS_CASES = [
    ("clerk", "SHA256"),
    ("clerk", "SHA384"),
    ("clerk", "SHA512"),
    ("rsa2048", "SHA256"),
    ("p256", "SHA256"),
    ("p384", "SHA384"),
]


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
@pytest.mark.parametrize(
    "case", NSS_CASES, ids=[f"{k}-{d}" for k, d in NSS_CASES]
)
def test_govsign_accepts_what_nss_signs(
    demo: DemoSigners,
    ossl_pki: OpensslPKI,
    ossl_leaves: dict[str, Leaf],
    nss_db: NssDb,
    tmp_path: Path,
    case: tuple[str, str],
    detached: bool,
) -> None:
    who, digest = case
    if who == "clerk":
        nickname, sender = "clerk", SENDER
        trust, crls = demo.pki.trust_file, list(demo.pki.crl_files)
    else:
        leaf = ossl_leaves[who]
        nickname, sender = f"dung-{who}", leaf.email
        trust, crls = ossl_pki.trust_file, ossl_pki.crls()
    entity = _crlf_entity()
    der = nss_sign(
        nss_db, nickname, entity, tmp_path, digest=digest, detached=detached
    )
    message = wrap(sender, entity, der, detached=detached)

    result = m.verifier(trust, crls).verify(message)

    assert result.verdict is Verdict.VALID, result.problems
    (signer,) = result.signers
    assert signer.email == (sender,)
    assert signer.digest_algorithm == digest.lower()
    assert signer.signing_time is not None
    assert nss_statuses(
        nss_db, der, tmp_path, entity if detached else None
    ) == ["GoodSignature"]


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "opaque"])
def test_one_changed_byte_in_an_nss_signature_is_not_valid(
    demo: DemoSigners, nss_db: NssDb, tmp_path: Path, detached: bool
) -> None:
    entity = _crlf_entity()
    der = nss_sign(
        nss_db, "clerk", entity, tmp_path, digest="SHA256", detached=detached
    )
    message = wrap(SENDER, entity, der, detached=detached)
    v = m.verifier(demo.pki.trust_file, demo.pki.crl_files)
    assert v.verify(message).verdict is Verdict.VALID
    leaf_der = demo.pki.clerk.certificate.public_bytes(
        serialization.Encoding.DER
    )

    variants = m.tampered_variants(message, leaf_der, opaque=not detached)

    for name, changed in variants.items():
        assert m.verdict_of(v, changed) != "valid", name
        if name == "signer-certificate":
            # NSS checks with its own copy of the signer's certificate
            # (imported with the .p12), not the changed one.
            continue
        content, changed_der = split_signed(changed)
        assert nss_statuses(nss_db, changed_der, tmp_path, content) != [
            "GoodSignature"
        ], name
