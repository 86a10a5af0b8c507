"""Interop of encrypted mail with real peers: OpenSSL both ways, and NSS
(cmsutil) and gpgsm decrypting govsign's output where they can.

The NSS and gpgsm versions in Debian 12 (NSS 3.87, GnuPG 2.2.40) read
only RSA PKCS#1 v1.5 with AES-CBC; for the other algorithms the tests show
that they reject OpenSSL's output in the same way, so the limit is
theirs, not a defect of govsign's encoding.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from govsign.cms.enveloped import (
    ContentEncryption,
    Recipient,
    build_envelope,
    open_envelope,
)
from govsign.keys import KeyTransportPadding
from govsign.smime.encryption import decrypt, encrypt
from tests.conftest import DEMO_PASSWORD, EncryptionPKI, require_tool

pytestmark = pytest.mark.interop

ENTITY = (
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"K\xc3\xadnh g\xe1\xbb\xadi: S\xe1\xbb\x9f T\xc3\xa0i ch\xc3\xadnh.\r\n"
)
MESSAGE = (
    b"From: an.nv@snv.demo.gov.vn\r\n"
    b"To: binh.tt@stc.demo.gov.vn\r\n"
    b"Subject: interop\r\n"
    b"MIME-Version: 1.0\r\n" + ENTITY
)

OAEP = KeyTransportPadding.OAEP_SHA256
V15 = KeyTransportPadding.PKCS1V15
CIPHERS = [
    ContentEncryption.AES256_GCM,
    ContentEncryption.AES128_GCM,
    ContentEncryption.AES256_CBC,
    ContentEncryption.AES128_CBC,
]
OPENSSL_CIPHER = {
    ContentEncryption.AES256_GCM: "-aes-256-gcm",
    ContentEncryption.AES128_GCM: "-aes-128-gcm",
    ContentEncryption.AES256_CBC: "-aes-256-cbc",
    ContentEncryption.AES128_CBC: "-aes-128-cbc",
}


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_tool("openssl")


def _run(args: list[str], data: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(args, input=data, capture_output=True, timeout=60)


def _openssl_decrypt(
    openssl: str, pki: EncryptionPKI, name: str, message: bytes
) -> bytes:
    done = _run(
        [
            openssl,
            "cms",
            "-decrypt",
            "-recip",
            str(pki.cert_file(name)),
            "-inkey",
            str(pki.key_file(name)),
        ],
        message,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _openssl_encrypt(
    openssl: str,
    pki: EncryptionPKI,
    recipients: list[tuple[str, KeyTransportPadding | None]],
    cipher: ContentEncryption,
    *extra: str,
    recipient_options: tuple[str, ...] = (),
) -> bytes:
    args = [openssl, "cms", "-encrypt", "-binary", OPENSSL_CIPHER[cipher]]
    args += list(extra)
    for name, padding in recipients:
        args += ["-recip", str(pki.cert_file(name)), *recipient_options]
        if padding is OAEP:
            args += [
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ]
    args += ["-subject", "interop", "-from", "an.nv@snv.demo.gov.vn"]
    done = _run(args, ENTITY)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


# ------------------------------------------------------------ OpenSSL


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.value)
@pytest.mark.parametrize("padding", [OAEP, V15], ids=["oaep", "v15"])
def test_openssl_decrypts_govsign_rsa(openssl, enc_pki, padding, cipher):
    encrypted = encrypt(
        MESSAGE,
        [enc_pki.keys["rsa"].certificate],
        content_encryption=cipher,
        key_transport=padding,
    )
    assert _openssl_decrypt(openssl, enc_pki, "rsa", encrypted) == ENTITY


@pytest.mark.parametrize(
    "padding",
    [KeyTransportPadding.OAEP_SHA384, KeyTransportPadding.OAEP_SHA512],
    ids=lambda p: p.value,
)
def test_openssl_decrypts_govsign_stronger_oaep(openssl, enc_pki, padding):
    encrypted = encrypt(
        MESSAGE, [enc_pki.keys["rsa"].certificate], key_transport=padding
    )
    assert _openssl_decrypt(openssl, enc_pki, "rsa", encrypted) == ENTITY


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.value)
@pytest.mark.parametrize("padding", [OAEP, V15], ids=["oaep", "v15"])
def test_govsign_decrypts_openssl_rsa(openssl, enc_pki, padding, cipher):
    encrypted = _openssl_encrypt(openssl, enc_pki, [("rsa", padding)], cipher)
    decrypted = decrypt(encrypted, enc_pki.keys["rsa"])
    assert decrypted.entity == ENTITY
    expected = "rsaes-oaep-sha256" if padding is OAEP else "rsaes-pkcs1v15"
    assert decrypted.result.key_management == expected
    assert decrypted.result.content_encryption is cipher
    assert decrypted.result.integrity_protected is cipher.authenticated


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.value)
@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_openssl_decrypts_govsign_ecdh(openssl, enc_pki, curve, cipher):
    encrypted = encrypt(
        MESSAGE, [enc_pki.keys[curve].certificate], content_encryption=cipher
    )
    assert _openssl_decrypt(openssl, enc_pki, curve, encrypted) == ENTITY


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.value)
@pytest.mark.parametrize("curve", ["p256", "p384"])
@pytest.mark.parametrize("kdf", ["sha1", "sha256", "sha384", "sha512"])
def test_govsign_decrypts_openssl_ecdh(openssl, enc_pki, curve, cipher, kdf):
    encrypted = _openssl_encrypt(
        openssl,
        enc_pki,
        [(curve, None)],
        cipher,
        recipient_options=("-keyopt", f"ecdh_kdf_md:{kdf}"),
    )
    decrypted = decrypt(encrypted, enc_pki.keys[curve])
    assert decrypted.entity == ENTITY
    assert decrypted.result.key_management.startswith(f"ecdh-x963-{kdf}+")


@pytest.mark.parametrize(
    "cipher",
    [ContentEncryption.AES256_GCM, ContentEncryption.AES128_CBC],
    ids=lambda c: c.value,
)
def test_mixed_recipients_govsign_to_openssl(openssl, enc_pki, cipher):
    names = ["rsa", "p256", "p384", "clerk"]
    recipients = [
        Recipient(enc_pki.keys["rsa"].certificate, OAEP),
        Recipient(enc_pki.keys["p256"].certificate),
        Recipient(enc_pki.keys["p384"].certificate),
        Recipient(enc_pki.keys["clerk"].certificate, V15),
    ]
    encrypted = encrypt(MESSAGE, recipients, content_encryption=cipher)
    for name in names:
        assert _openssl_decrypt(openssl, enc_pki, name, encrypted) == ENTITY


@pytest.mark.parametrize(
    "cipher",
    [ContentEncryption.AES256_GCM, ContentEncryption.AES128_CBC],
    ids=lambda c: c.value,
)
def test_mixed_recipients_openssl_to_govsign(openssl, enc_pki, cipher):
    recipients = [
        ("clerk", V15),
        ("p256", None),
        ("rsa", OAEP),
        ("p384", None),
    ]
    encrypted = _openssl_encrypt(openssl, enc_pki, recipients, cipher)
    for name, _ in recipients:
        decrypted = decrypt(encrypted, enc_pki.keys[name])
        assert decrypted.entity == ENTITY
        assert len(decrypted.result.recipients) == 4


def test_govsign_decrypts_openssl_subject_key_identifiers(openssl, enc_pki):
    # -keyid: recipients named by subjectKeyIdentifier / rKeyId.
    encrypted = _openssl_encrypt(
        openssl,
        enc_pki,
        [("rsa", OAEP), ("p256", None)],
        ContentEncryption.AES256_GCM,
        "-keyid",
    )
    for name in ("rsa", "p256"):
        decrypted = decrypt(encrypted, enc_pki.keys[name])
        assert decrypted.entity == ENTITY
        assert any(
            r.identifier.startswith("subject key id")
            for r in decrypted.result.recipients
        )


def test_govsign_decrypts_openssl_oaep_label_and_sha1_mgf(openssl, enc_pki):
    done = _run(
        [
            openssl,
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-gcm",
            "-recip",
            str(enc_pki.cert_file("rsa")),
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-keyopt",
            "rsa_oaep_md:sha384",
            "-keyopt",
            "rsa_mgf1_md:sha1",
            "-keyopt",
            "rsa_oaep_label:676f767369676e",
        ],
        ENTITY,
    )
    assert done.returncode == 0, done.stderr.decode()
    decrypted = decrypt(done.stdout, enc_pki.keys["rsa"])
    assert decrypted.entity == ENTITY
    assert decrypted.result.key_management == (
        "rsaes-oaep-sha384-mgf1-sha1-label"
    )


@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_openssl_decrypts_govsign_ecdh_with_ukm(openssl, enc_pki, curve):
    der = build_envelope(
        ENTITY,
        [Recipient(enc_pki.keys[curve].certificate)],
        user_keying_material=True,
    )
    pem = (
        b"-----BEGIN CMS-----\n"
        + base64.encodebytes(der)
        + b"-----END CMS-----\n"
    )
    done = _run(
        [
            openssl,
            "cms",
            "-decrypt",
            "-inform",
            "PEM",
            "-recip",
            str(enc_pki.cert_file(curve)),
            "-inkey",
            str(enc_pki.key_file(curve)),
        ],
        pem,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == ENTITY


def test_openssl_rejects_tampered_govsign_gcm(openssl, enc_pki, tmp_path):
    # The other side of "release no plaintext": OpenSSL agrees the tag
    # fails after one flipped ciphertext bit.
    der = build_envelope(ENTITY, [Recipient(enc_pki.keys["rsa"].certificate)])
    tampered = bytearray(der)
    tampered[-20] ^= 1
    path = tmp_path / "tampered.der"
    path.write_bytes(bytes(tampered))
    done = _run(
        [
            openssl,
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            str(path),
            "-recip",
            str(enc_pki.cert_file("rsa")),
            "-inkey",
            str(enc_pki.key_file("rsa")),
        ]
    )
    assert done.returncode != 0
    assert ENTITY not in done.stdout


# ---------------------------------------------------------------- NSS


@pytest.fixture(scope="module")
def nss_db(enc_pki, tmp_path_factory) -> Path:
    certutil = require_tool("certutil")
    pk12util = require_tool("pk12util")
    require_tool("cmsutil")
    directory = tmp_path_factory.mktemp("nssdb")
    database = f"sql:{directory}"
    done = _run([certutil, "-N", "-d", database, "--empty-password"])
    assert done.returncode == 0, done.stderr.decode()
    for name in ("rsa", "p256"):
        done = _run(
            [
                pk12util,
                "-i",
                str(enc_pki.p12_file(name)),
                "-d",
                database,
                "-W",
                DEMO_PASSWORD.decode(),
            ]
        )
        assert done.returncode == 0, done.stderr.decode()
    return directory


def _cmsutil(nss_db: Path, der: bytes, tmp_path: Path):
    path = tmp_path / "message.der"
    path.write_bytes(der)
    return _run(["cmsutil", "-D", "-d", f"sql:{nss_db}", "-i", str(path)])


@pytest.mark.parametrize(
    "cipher",
    [ContentEncryption.AES256_CBC, ContentEncryption.AES128_CBC],
    ids=lambda c: c.value,
)
def test_nss_decrypts_govsign_rsa_pkcs1v15_cbc(
    nss_db, enc_pki, cipher, tmp_path
):
    der = build_envelope(
        ENTITY,
        [Recipient(enc_pki.keys["rsa"].certificate, V15)],
        content_encryption=cipher,
    )
    done = _cmsutil(nss_db, der, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == ENTITY


def test_govsign_decrypts_nss_output(nss_db, enc_pki, tmp_path):
    # cmsutil -E writes BER (indefinite lengths, chunked OCTET STRINGs).
    source = tmp_path / "entity.txt"
    source.write_bytes(ENTITY)
    out = tmp_path / "nss.der"
    done = _run(
        [
            "cmsutil",
            "-E",
            "-d",
            f"sql:{nss_db}",
            "-r",
            "binh.tt@stc.demo.gov.vn",
            "-i",
            str(source),
            "-o",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr.decode()
    opened = open_envelope(out.read_bytes(), enc_pki.keys["rsa"])
    assert opened.content == ENTITY
    assert opened.key_management == "rsaes-pkcs1v15"


@pytest.mark.parametrize(
    ("name", "padding", "cipher", "openssl_args"),
    [
        ("rsa", OAEP, ContentEncryption.AES256_CBC, []),
        ("rsa", V15, ContentEncryption.AES256_GCM, []),
        ("p256", None, ContentEncryption.AES256_CBC, []),
    ],
    ids=["oaep", "gcm", "ecdh"],
)
def test_nss_limits_are_the_same_for_openssl_output(
    nss_db, openssl, enc_pki, name, padding, cipher, openssl_args, tmp_path
):
    # NSS 3.87 reads neither OAEP, nor AuthEnvelopedData, nor ECDH; it
    # rejects OpenSSL's encoding with the same error as govsign's.
    ours = build_envelope(
        ENTITY,
        [Recipient(enc_pki.keys[name].certificate, padding or OAEP)],
        content_encryption=cipher,
    )
    theirs = _openssl_encrypt(
        openssl, enc_pki, [(name, padding)], cipher, "-outform", "DER"
    )
    ours_done = _cmsutil(nss_db, ours, tmp_path)
    theirs_done = _cmsutil(nss_db, theirs, tmp_path)
    if ours_done.returncode == 0:
        # A newer NSS: then it must also read govsign's output correctly.
        assert ours_done.stdout == ENTITY
        return
    assert theirs_done.returncode != 0
    assert (
        ours_done.stderr.splitlines()[-1]
        == (theirs_done.stderr.splitlines()[-1])
    )


# --------------------------------------------------------------- gpgsm


@pytest.fixture(scope="module")
def gpgsm_home(enc_pki, openssl, tmp_path_factory):
    gpgsm = require_tool("gpgsm")
    gpgconf = require_tool("gpgconf")
    require_tool("gpg-agent")  # gpgsm keeps secret keys there
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    # GnuPG 2.2 cannot read PBES2/AES PKCS#12 files: give it the legacy
    # 3DES form of the same key.
    legacy = home / "rsa-legacy.p12"
    done = _run(
        [
            openssl,
            "pkcs12",
            "-export",
            "-inkey",
            str(enc_pki.key_file("rsa")),
            "-in",
            str(enc_pki.cert_file("rsa")),
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
            "-passout",
            "pass:gpgsm",
            "-out",
            str(legacy),
        ]
    )
    assert done.returncode == 0, done.stderr.decode()
    # Start the agent before the first use: on a busy machine gpgsm's own
    # on-demand start can time out.
    done = _run([gpgconf, "--homedir", str(home), "--launch", "gpg-agent"])
    assert done.returncode == 0, done.stderr.decode()
    done = _gpgsm(gpgsm, home, ["--import", str(legacy)])
    assert done.returncode == 0, done.stderr.decode()
    yield gpgsm, home
    _run([gpgconf, "--homedir", str(home), "--kill", "all"])


def _gpgsm(gpgsm: str, home: Path, args: list[str]):
    return _run(
        [
            gpgsm,
            "--homedir",
            str(home),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            *args,
        ],
        b"gpgsm\n",
    )


@pytest.mark.parametrize(
    "cipher",
    [ContentEncryption.AES256_CBC, ContentEncryption.AES128_CBC],
    ids=lambda c: c.value,
)
def test_gpgsm_decrypts_govsign_rsa_pkcs1v15_cbc(
    gpgsm_home, enc_pki, cipher, tmp_path
):
    gpgsm, home = gpgsm_home
    path = tmp_path / "message.der"
    path.write_bytes(
        build_envelope(
            ENTITY,
            [Recipient(enc_pki.keys["rsa"].certificate, V15)],
            content_encryption=cipher,
        )
    )
    done = _gpgsm(gpgsm, home, ["--decrypt", str(path)])
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == ENTITY


@pytest.mark.parametrize(
    ("padding", "cipher"),
    [
        (OAEP, ContentEncryption.AES256_CBC),
        (V15, ContentEncryption.AES256_GCM),
    ],
    ids=["oaep", "gcm"],
)
def test_gpgsm_limits_are_the_same_for_openssl_output(
    gpgsm_home, openssl, enc_pki, padding, cipher, tmp_path
):
    # GnuPG 2.2 reads neither OAEP nor AuthEnvelopedData.
    gpgsm, home = gpgsm_home
    ours = tmp_path / "ours.der"
    ours.write_bytes(
        build_envelope(
            ENTITY,
            [Recipient(enc_pki.keys["rsa"].certificate, padding)],
            content_encryption=cipher,
        )
    )
    theirs = tmp_path / "theirs.der"
    theirs.write_bytes(
        _openssl_encrypt(
            openssl, enc_pki, [("rsa", padding)], cipher, "-outform", "DER"
        )
    )
    ours_done = _gpgsm(gpgsm, home, ["--decrypt", str(ours)])
    theirs_done = _gpgsm(gpgsm, home, ["--decrypt", str(theirs)])
    if ours_done.returncode == 0:
        assert ours_done.stdout == ENTITY
        return
    assert theirs_done.returncode != 0
    assert (
        ours_done.stderr.splitlines()[-1]
        == (theirs_done.stderr.splitlines()[-1])
    )


def test_govsign_decrypts_openssl_oaep_sha224(openssl, enc_pki):
    encrypted = _openssl_encrypt(
        openssl,
        enc_pki,
        [("rsa", None)],
        ContentEncryption.AES128_CBC,
        recipient_options=(
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-keyopt",
            "rsa_oaep_md:sha224",
        ),
    )
    decrypted = decrypt(encrypted, enc_pki.keys["rsa"])
    assert decrypted.entity == ENTITY
    assert decrypted.result.key_management == "rsaes-oaep-sha224"
