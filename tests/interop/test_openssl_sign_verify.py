"""govsign and ``openssl cms`` sign for each other and verify each other.

Directions proven here:

- govsign signs (demo PKI and the independent openssl PKI) and ``openssl
  cms -verify`` accepts: multipart/signed and opaque, RSA PKCS#1 v1.5
  (SHA-256/384/512), RSA-PSS, ECDSA P-256 and P-384;
- ``openssl cms -sign`` signs with certificates from an openssl-made PKI
  and govsign says ``valid``: detached and ``-nodetach``, ``-md``
  sha256/384/512, ``-keyopt rsa_padding_mode:pss``, EC keys, ``-cades``;
- one changed byte in the signed part or the signature makes both fail;
- path validation against the openssl PKI and its ``openssl ca -gencrl``
  CRLs: unknown root, missing emailProtection, revoked signer, missing
  CRL, expired signer.

Ed25519 (RFC 8419) is not proven against openssl here: OpenSSL 3.0 can
neither sign nor verify Ed25519 CMS ("eddsa_digest_signverify_init:
invalid digest"); support arrived in OpenSSL 3.2.  The test
``test_openssl_ed25519_cms_support_is_detected`` records which case this
machine is in and runs the interop check when the peer can.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govsign.keys import HashName, load_pem
from govsign.keys.local import LocalKey
from govsign.result import Indication, SubIndication, Verdict
from govsign.smime.signing import sign_message
from tests.der_walk import unprotected_offsets
from tests.interop import _material as m
from tests.interop.conftest import SENDER, DemoSigners, write
from tests.openssl_pki import Leaf, OpensslPKI
from tests.peers import run_tool

pytestmark = pytest.mark.interop

_DER = serialization.Encoding.DER

# (key kind, digest, pss) govsign signs with; openssl 3.0 verifies all.
GOVSIGN_ALGORITHMS = [
    ("rsa2048", HashName.SHA256, False),
    ("rsa2048", HashName.SHA384, False),
    ("rsa2048", HashName.SHA512, False),
    ("rsa2048", HashName.SHA256, True),
    ("rsa2048", HashName.SHA512, True),
    ("p256", HashName.SHA256, False),
    ("p384", HashName.SHA384, False),
]


def _alg_id(case: tuple[str, HashName, bool]) -> str:
    kind, digest, pss = case
    return f"{kind}-{'pss-' if pss else ''}{digest.value}"


def openssl_verify(
    message: bytes,
    trust_file: Path,
    tmp_path: Path,
    *extra: str,
) -> subprocess.CompletedProcess[bytes]:
    """``openssl cms -verify`` on ``message``; the content goes to a file."""
    path = write(tmp_path / "to-verify.eml", message)
    return run_tool(
        [
            "openssl",
            "cms",
            "-verify",
            "-in",
            path,
            "-CAfile",
            trust_file,
            "-purpose",
            "smimesign",
            "-out",
            tmp_path / "verified-content",
            *extra,
        ],
        check=False,
    )


def with_crls(trust_file: Path, crls: list[Path], tmp_path: Path) -> Path:
    """A CAfile that also holds CRLs: openssl cms has no -CRLfile."""
    return write(
        tmp_path / "trust-and-crls.pem",
        trust_file.read_bytes() + b"".join(p.read_bytes() for p in crls),
    )


def openssl_sign(
    leaf: Leaf,
    content: bytes,
    tmp_path: Path,
    *options: str,
) -> bytes:
    """``openssl cms -sign`` a MIME entity as ``leaf``, From its address."""
    entity = write(tmp_path / "entity.txt", content)
    out = tmp_path / "openssl-signed.eml"
    run_tool(
        [
            "openssl",
            "cms",
            "-sign",
            "-in",
            entity,
            "-signer",
            leaf.cert,
            "-inkey",
            leaf.key,
            "-certfile",
            leaf.chain,
            "-from",
            leaf.email,
            "-to",
            "binh.tt@stc.demo.gov.vn",
            "-subject",
            "Cong van so 15/SNV-VP",
            "-out",
            out,
            *options,
        ]
    )
    return out.read_bytes()


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def _load_leaf(leaf: Leaf) -> LocalKey:
    # The leaf's PEM holds only its own certificate; ship the issuing CA.
    key = load_pem(leaf.key, leaf.cert)
    issuing = x509.load_pem_x509_certificate(leaf.chain.read_bytes())
    return LocalKey(key.private_key, key.certificate, [issuing])


@pytest.fixture(scope="module")
def ossl_leaves(ossl_pki: OpensslPKI) -> dict[str, Leaf]:
    return {
        kind: ossl_pki.issue(
            f"Nguyễn Văn Ba ({kind})",
            "ba.nv@snv.interop.gov.vn",
            key_spec=kind,
        )
        for kind in ("rsa2048", "p256", "p384", "ed25519")
    }


@pytest.fixture(scope="module")
def ossl_crls(
    ossl_pki: OpensslPKI, ossl_leaves: dict[str, Leaf]
) -> list[Path]:
    return ossl_pki.crls()


# ------------------------------------------------ govsign signs, openssl


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
@pytest.mark.parametrize("case", GOVSIGN_ALGORITHMS, ids=_alg_id)
def test_openssl_accepts_what_govsign_signs_with_the_demo_pki(
    demo: DemoSigners,
    openssl_bin: str,
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

    done = openssl_verify(signed, demo.pki.trust_file, tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    assert b"Verification successful" in done.stderr
    content = (tmp_path / "verified-content").read_bytes()
    assert "Kính gửi".encode() not in content  # 7-bit: it is encoded
    assert b"Content-Type: multipart/mixed" in content
    assert _crlf(content) in _crlf(signed) or opaque


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
@pytest.mark.parametrize("kind", ["rsa2048", "p256", "p384"])
def test_openssl_accepts_what_govsign_signs_with_an_openssl_made_key(
    ossl_leaves: dict[str, Leaf],
    ossl_pki: OpensslPKI,
    ossl_crls: list[Path],
    tmp_path: Path,
    kind: str,
    opaque: bool,
) -> None:
    leaf = ossl_leaves[kind]
    signed = sign_message(
        m.letter(leaf.email), _load_leaf(leaf), opaque=opaque
    )

    done = openssl_verify(
        signed,
        with_crls(ossl_pki.trust_file, ossl_crls, tmp_path),
        tmp_path,
        "-crl_check_all",
    )

    assert done.returncode == 0, done.stderr.decode()
    own = m.verifier(ossl_pki.trust_file, ossl_crls).verify(signed)
    assert own.verdict is Verdict.VALID, own.problems


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_one_changed_byte_in_a_govsign_signature_fails_both(
    demo: DemoSigners, openssl_bin: str, tmp_path: Path, opaque: bool
) -> None:
    signer = demo.by_kind["rsa2048"]
    signed = sign_message(m.letter(SENDER), signer, opaque=opaque)
    v = m.verifier(demo.pki.trust_file, demo.pki.crl_files)
    assert v.verify(signed).verdict is Verdict.VALID
    assert (
        openssl_verify(signed, demo.pki.trust_file, tmp_path).returncode == 0
    )

    variants = m.tampered_variants(
        signed, signer.certificate.public_bytes(_DER), opaque=opaque
    )

    assert len(variants) >= 4
    for name, changed in variants.items():
        assert changed != signed
        done = openssl_verify(changed, demo.pki.trust_file, tmp_path)
        assert done.returncode != 0, f"openssl accepted {name}"
        assert m.verdict_of(v, changed) != "valid", f"govsign: {name}"


# ------------------------------------------------ openssl signs, govsign

OPENSSL_SIGNING = [
    ("rsa2048", ["-md", "sha256"]),
    ("rsa2048", ["-md", "sha384"]),
    ("rsa2048", ["-md", "sha512"]),
    ("rsa2048", ["-md", "sha256", "-keyopt", "rsa_padding_mode:pss"]),
    (
        "rsa2048",
        [
            "-md",
            "sha512",
            "-keyopt",
            "rsa_padding_mode:pss",
            "-keyopt",
            "rsa_pss_saltlen:max",
        ],
    ),
    (
        "rsa2048",
        [
            "-md",
            "sha384",
            "-keyopt",
            "rsa_padding_mode:pss",
            "-keyopt",
            "rsa_pss_saltlen:digest",
        ],
    ),
    ("rsa2048", ["-md", "sha256", "-cades"]),
    ("p256", ["-md", "sha256"]),
    ("p256", ["-md", "sha512"]),
    ("p384", ["-md", "sha384"]),
]


def _openssl_id(case: tuple[str, list[str]]) -> str:
    kind, options = case
    words = [o.split(":")[-1] for o in options if not o.startswith("-")]
    return "-".join([kind, *words])


@pytest.mark.parametrize("detach", [True, False], ids=["detached", "nodetach"])
@pytest.mark.parametrize("case", OPENSSL_SIGNING, ids=_openssl_id)
def test_govsign_accepts_what_openssl_signs(
    ossl_leaves: dict[str, Leaf],
    ossl_pki: OpensslPKI,
    ossl_crls: list[Path],
    tmp_path: Path,
    case: tuple[str, list[str]],
    detach: bool,
) -> None:
    kind, options = case
    leaf = ossl_leaves[kind]
    extra = [] if detach else ["-nodetach"]
    signed = openssl_sign(leaf, m.entity(), tmp_path, *options, *extra)
    expected_form = "multipart/signed" if detach else "application/pkcs7-mime"

    result = m.verifier(ossl_pki.trust_file, ossl_crls).verify(signed)

    assert result.verdict is Verdict.VALID, result.problems
    (signer,) = result.signers
    assert signer.email == (leaf.email,)
    assert signer.address_matches_from is True
    assert signer.form == expected_form
    assert signer.digest_algorithm == options[1]
    assert len(signer.chain) == 3
    if "rsa_padding_mode:pss" in options:
        assert signer.signature_algorithm == "rsassa_pss"


@pytest.mark.parametrize("detach", [True, False], ids=["detached", "nodetach"])
def test_one_changed_byte_in_an_openssl_signature_fails_both(
    ossl_leaves: dict[str, Leaf],
    ossl_pki: OpensslPKI,
    ossl_crls: list[Path],
    tmp_path: Path,
    detach: bool,
) -> None:
    leaf = ossl_leaves["p256"]
    extra = [] if detach else ["-nodetach"]
    signed = openssl_sign(leaf, m.entity(), tmp_path, *extra)
    v = m.verifier(ossl_pki.trust_file, ossl_crls)
    assert v.verify(signed).verdict is Verdict.VALID
    cert_der = x509.load_pem_x509_certificate(
        leaf.cert.read_bytes()
    ).public_bytes(_DER)

    variants = m.tampered_variants(signed, cert_der, opaque=not detach)

    for name, changed in variants.items():
        done = openssl_verify(changed, ossl_pki.trust_file, tmp_path)
        assert done.returncode != 0, f"openssl accepted {name}"
        assert m.verdict_of(v, changed) != "valid", f"govsign: {name}"


def test_openssl_ed25519_cms_support_is_detected(
    demo: DemoSigners, openssl_bin: str, tmp_path: Path
) -> None:
    # govsign's Ed25519 signature verifies in govsign; openssl 3.0 cannot
    # check it, so the assertion follows what the peer can do.
    signed = sign_message(m.letter(SENDER), demo.by_kind["ed25519"])
    own = m.verifier(demo.pki.trust_file, demo.pki.crl_files).verify(signed)
    assert own.verdict is Verdict.VALID, own.problems
    assert own.signers[0].signature_algorithm == "ed25519"

    done = openssl_verify(signed, demo.pki.trust_file, tmp_path)

    version = run_tool(["openssl", "version"]).stdout.decode()
    if version.startswith("OpenSSL 3.0") or version.startswith("OpenSSL 3.1"):
        assert done.returncode != 0
        assert b"invalid digest" in done.stderr
    else:
        assert done.returncode == 0, done.stderr.decode()


# ------------------------------------------------ path validation


def _sub(result: object) -> SubIndication | None:
    return result.sub_indication  # type: ignore[attr-defined, no-any-return]


def test_unknown_root_is_indeterminate_no_certificate_chain_found(
    ossl_leaves: dict[str, Leaf],
    stranger_pki: OpensslPKI,
    ossl_crls: list[Path],
    tmp_path: Path,
) -> None:
    signed = openssl_sign(ossl_leaves["rsa2048"], m.entity(), tmp_path)

    result = m.verifier(stranger_pki.trust_file, ossl_crls).verify(signed)

    assert result.verdict is Verdict.INDETERMINATE
    assert result.indication is Indication.INDETERMINATE
    assert _sub(result) is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    peer = openssl_verify(signed, stranger_pki.trust_file, tmp_path)
    assert peer.returncode != 0
    assert b"unable to get local issuer certificate" in peer.stderr


def test_signer_without_email_protection_is_chain_constraints_failure(
    ossl_pki: OpensslPKI, tmp_path: Path
) -> None:
    leaf = ossl_pki.issue(
        "Client Auth Only", "client@snv.interop.gov.vn", eku="clientAuth"
    )
    signed = openssl_sign(leaf, m.entity(), tmp_path)
    crls = ossl_pki.crls()

    result = m.verifier(ossl_pki.trust_file, crls).verify(signed)

    assert result.verdict is Verdict.INDETERMINATE
    assert _sub(result) is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert "emailProtection" in " ".join(result.problems)
    peer = openssl_verify(signed, ossl_pki.trust_file, tmp_path)
    assert peer.returncode != 0
    assert b"unsuitable certificate purpose" in peer.stderr


def test_signer_revoked_before_signing_is_invalid_revoked(
    ossl_pki: OpensslPKI, tmp_path: Path
) -> None:
    leaf = ossl_pki.issue("Bị thu hồi", "revoked@snv.interop.gov.vn")
    ossl_pki.revoke(leaf)
    crls = ossl_pki.crls()
    # openssl ca stamps the revocation with the current second; the
    # signature made after it carries a signing time not earlier.
    signed = openssl_sign(leaf, m.entity(), tmp_path)

    result = m.verifier(ossl_pki.trust_file, crls).verify(signed)

    assert result.verdict is Verdict.INVALID
    assert result.indication is Indication.TOTAL_FAILED
    assert _sub(result) is SubIndication.REVOKED
    peer = openssl_verify(
        signed,
        with_crls(ossl_pki.trust_file, crls, tmp_path),
        tmp_path,
        "-crl_check_all",
    )
    assert peer.returncode != 0
    assert b"certificate revoked" in peer.stderr


def test_signer_revoked_after_signing_is_indeterminate_revoked_no_poe(
    ossl_pki: OpensslPKI, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = ossl_pki.issue(
        "Thu hồi sau",
        "later@snv.interop.gov.vn",
        start=now - dt.timedelta(days=2),
    )
    an_hour_ago = now - dt.timedelta(hours=1)
    signed = sign_message(
        m.letter(leaf.email, date=an_hour_ago),
        _load_leaf(leaf),
        signing_time=an_hour_ago,
    )
    ossl_pki.revoke(leaf, "superseded")
    crls = ossl_pki.crls()

    result = m.verifier(ossl_pki.trust_file, crls).verify(signed)

    # EN 319 102-1: without a proof of existence before the revocation,
    # the claimed signing time alone cannot make it valid.
    assert result.verdict is Verdict.INDETERMINATE
    assert _sub(result) is SubIndication.REVOKED_NO_POE


def test_signer_without_crl_is_indeterminate_try_later(
    ossl_leaves: dict[str, Leaf], ossl_pki: OpensslPKI, tmp_path: Path
) -> None:
    signed = openssl_sign(ossl_leaves["rsa2048"], m.entity(), tmp_path)

    result = m.verifier(ossl_pki.trust_file, []).verify(signed)

    assert result.verdict is Verdict.INDETERMINATE
    assert _sub(result) is SubIndication.TRY_LATER


def test_only_issuing_crl_is_indeterminate_try_later(
    ossl_leaves: dict[str, Leaf],
    ossl_pki: OpensslPKI,
    ossl_crls: list[Path],
    tmp_path: Path,
) -> None:
    # The root's CRL is what says the issuing CA is not revoked.
    signed = openssl_sign(ossl_leaves["p256"], m.entity(), tmp_path)
    root_crl, issuing_crl = ossl_crls

    result = m.verifier(ossl_pki.trust_file, [issuing_crl]).verify(signed)

    assert result.verdict is Verdict.INDETERMINATE
    assert _sub(result) is SubIndication.TRY_LATER


def _cli_verify(
    message: Path, trust: Path, crls: list[Path], *extra: str
) -> subprocess.CompletedProcess[bytes]:
    argv: list[str | Path] = [
        sys.executable,
        "-m",
        "govsign_cli",
        "verify",
        "--json",
        "--trust",
        trust,
    ]
    for crl in crls:
        argv += ["--crl", crl]
    return run_tool([*argv, *extra, message], check=False)


def test_expired_signer_checked_after_expiry_is_indeterminate(
    ossl_pki: OpensslPKI, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    leaf = ossl_pki.issue(
        "Hết hạn",
        "expiring@snv.interop.gov.vn",
        start=now - dt.timedelta(days=2),
        end=now + dt.timedelta(days=1),
    )
    signed = write(
        tmp_path / "signed.eml",
        openssl_sign(leaf, m.entity(), tmp_path),
    )
    crls = ossl_pki.crls()  # valid for 30 days: covers both moments

    before = _cli_verify(
        signed,
        ossl_pki.trust_file,
        crls,
        "--at",
        (now + dt.timedelta(hours=12)).isoformat(),
    )
    after = _cli_verify(
        signed,
        ossl_pki.trust_file,
        crls,
        "--at",
        (now + dt.timedelta(days=2)).isoformat(),
    )

    assert before.returncode == 0, before.stdout.decode()
    assert json.loads(before.stdout)["verdict"] == "valid"
    assert after.returncode == 4, after.stdout.decode()
    report = json.loads(after.stdout)
    assert report["verdict"] == "indeterminate"
    assert report["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"
    peer = openssl_verify(
        signed.read_bytes(),
        ossl_pki.trust_file,
        tmp_path,
        "-attime",
        str(int((now + dt.timedelta(days=2)).timestamp())),
    )
    assert peer.returncode != 0
    assert b"certificate has expired" in peer.stderr


@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_changed_bytes_spread_over_a_govsign_message_fail_both(
    demo: DemoSigners, openssl_bin: str, tmp_path: Path, opaque: bool
) -> None:
    # "Anywhere": 48 offsets spread evenly over what the signature covers
    # (the signed part) and the signature itself, less the few CMS bytes
    # no signature covers (tests/der_walk.py).
    signed = sign_message(
        m.letter(SENDER), demo.by_kind["p256"], opaque=opaque
    )
    der = m.cms_der(signed)
    skip = unprotected_offsets(der)
    der_offsets = [i for i in range(len(der)) if i not in skip]
    v = m.verifier(demo.pki.trust_file, demo.pki.crl_files)
    variants = [
        m.replace_cms(
            signed, _xor(der, der_offsets[k * len(der_offsets) // 24])
        )
        for k in range(24)
    ]
    if opaque:
        # The signed part is encapsulated: spread over it inside the DER.
        content = m.encapsulated_content(der)
        at = der.index(content)
        variants += [
            m.replace_cms(signed, _xor(der, at + k * len(content) // 24))
            for k in range(24)
        ]
    else:
        start, end = m.signed_entity_span(signed)
        variants += [
            m.change_byte(signed, start + k * (end - start) // 24)
            for k in range(24)
        ]

    for index, changed in enumerate(variants):
        assert m.verdict_of(v, changed) != "valid", index
        done = openssl_verify(changed, demo.pki.trust_file, tmp_path)
        assert done.returncode != 0, f"openssl accepted variant {index}"


def _xor(der: bytes, offset: int) -> bytes:
    changed = bytearray(der)
    changed[offset] ^= 0x5A
    return bytes(changed)
