"""A SoftHSM2 world for tests: tokens, keys and certificates, made fresh.

Once per test session: a temporary SOFTHSM2_CONF and token directory,
tokens initialised with ``softhsm2-util``, keys and certificates written
onto them with OpenSC's ``pkcs11-tool`` (a tool independent of govsign),
and a small C shim module that wraps SoftHSM and reports every PIN locked
(SoftHSM itself never locks a PIN).

Everything is built before govsign loads the module in this process:
SoftHSM reads its token directory when it is initialised.

Missing tools skip the tests with a reason, except under CI=true, where
they fail: a CI run must not pass by skipping the token tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from govsign.keys.local import LocalKey, PrivateKey
from govsign.pki.demo import CertificateAuthority, new_private_key

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)
SO_PIN = "87654321"
PIN = "123456"
OTHER_PIN = "246810"

# Token labels are at most 32 bytes of UTF-8.
CLERK_TOKEN = "Văn thư Sở Nội vụ"
PIN_TOKEN = "Token thử PIN"
CSR_TOKEN = "Token CSR"

RSA_LABEL = "Khóa ký Nguyễn Văn An"
EC_LABEL = "Lê Văn Cường"
NFD_LABEL = "Trần Thị Bình"  # written decomposed (NFD) on the token
ED_LABEL = "Chữ ký Ed25519"  # generated on the token by pkcs11-tool
ALWAYS_AUTH_LABEL = "Ký từng lần"  # CKA_ALWAYS_AUTHENTICATE: PIN per use
CA_LABEL = "Demo Ministry CA"

_SHIM_C = r"""
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST_PTR real;

static CK_RV shim_initialize(CK_VOID_PTR args) {
    CK_RV rv = real->C_Initialize(args);
    /* The real module may already be loaded in this process. */
    return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}
static CK_RV shim_finalize(CK_VOID_PTR args) { (void)args; return CKR_OK; }
static CK_RV shim_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK) info->flags |= CKF_USER_PIN_LOCKED;
    return rv;
}
static CK_RV shim_login(CK_SESSION_HANDLE s, CK_USER_TYPE t,
                        CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    (void)s; (void)t; (void)pin; (void)len;
    return CKR_PIN_LOCKED;
}
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
    if (real == NULL) {
        void *h = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList get;
        if (h == NULL) return CKR_GENERAL_ERROR;
        get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
        if (get == NULL || get(&real) != CKR_OK) return CKR_GENERAL_ERROR;
        shim = *real;
        shim.C_Initialize = shim_initialize;
        shim.C_Finalize = shim_finalize;
        shim.C_GetTokenInfo = shim_token_info;
        shim.C_Login = shim_login;
    }
    *out = &shim;
    return CKR_OK;
}
"""


@dataclass(frozen=True)
class TokenWorld:
    """What the session's SoftHSM holds; see the module docstring."""

    module: Path
    locked_module: Path
    conf: Path
    env: dict[str, str]
    root: CertificateAuthority
    ministry: CertificateAuthority
    rsa: LocalKey
    ec: LocalKey
    nfd: LocalKey
    pin_key: LocalKey
    trust_file: Path
    ed_certificate: x509.Certificate
    always_auth_certificate: x509.Certificate

    def uri(
        self,
        token: str = CLERK_TOKEN,
        *,
        object: str | None = None,
        id: bytes | None = None,
        module: bool = True,
    ) -> str:
        """A pkcs11: URI with percent-encoded UTF-8, as RFC 7512 wants."""
        parts = [f"token={quote(token, safe='')}"]
        if object is not None:
            parts.append(f"object={quote(object, safe='')}")
        if id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in id))
        text = "pkcs11:" + ";".join(parts)
        return f"{text}?module-path={self.module}" if module else text

    def tool(self, *args: str, token: str = CLERK_TOKEN) -> str:
        """Run pkcs11-tool on a token and return its output."""
        return _run(
            [
                "pkcs11-tool",
                "--module",
                str(self.module),
                "--token-label",
                token,
                *args,
            ],
            self.env,
        )


def _run(argv: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        list(argv),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{argv[0]} failed ({done.returncode}): {done.stderr}"
        )
    return done.stdout


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"SoftHSM tests cannot run under CI: {reason}")
    pytest.skip(reason)


def _find_module() -> Path:
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    _missing("SoftHSM2 module not found (apt-get install softhsm2)")
    raise AssertionError("unreachable")


def _der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_key(
    world: TokenWorld,
    tmp: Path,
    token: str,
    pin: str,
    holder: LocalKey,
    label: str,
    key_id: bytes,
    usage: Sequence[str],
) -> None:
    key_file = tmp / f"key-{key_id.hex()}.der"
    cert_file = tmp / f"cert-{key_id.hex()}.der"
    pub_file = tmp / f"pub-{key_id.hex()}.der"
    key_file.write_bytes(_der(holder.private_key))
    cert_file.write_bytes(
        holder.certificate.public_bytes(serialization.Encoding.DER)
    )
    pub_file.write_bytes(
        holder.certificate.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    common = ["--login", "--pin", pin, "--label", label, "--id", key_id.hex()]
    world.tool(
        "--write-object",
        str(key_file),
        "--type",
        "privkey",
        *common,
        *usage,
        token=token,
    )
    world.tool(
        "--write-object",
        str(pub_file),
        "--type",
        "pubkey",
        *common,
        token=token,
    )
    world.tool(
        "--write-object",
        str(cert_file),
        "--type",
        "cert",
        *common,
        token=token,
    )
    key_file.unlink()


def _build_shim(tmp: Path, module: Path) -> Path:
    if shutil.which("gcc") is None:
        _missing("gcc not found: needed to build the locked-token shim")
    if not Path("/usr/include/p11-kit-1/p11-kit/pkcs11.h").is_file():
        _missing("p11-kit headers not found (apt-get install libp11-kit-dev)")
    source = tmp / "locked_shim.c"
    source.write_text(_SHIM_C)
    output = tmp / "liblocked-shim.so"
    _run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            "-I/usr/include/p11-kit-1",
            f'-DREAL_MODULE="{module}"',
            "-o",
            str(output),
            str(source),
            "-ldl",
        ],
        dict(os.environ),
    )
    return output


def _generated_on_token(
    world: TokenWorld,
    tmp: Path,
    ca: CertificateAuthority,
    *,
    key_type: str,
    label: str,
    key_id: str,
    name: str,
    email: str,
    extra: Sequence[str] = (),
) -> x509.Certificate:
    # Generated on the token, so the key never exists outside it.
    login = ["--login", "--pin", PIN]
    world.tool(
        *login,
        "--keypairgen",
        "--key-type",
        key_type,
        "--label",
        label,
        "--id",
        key_id,
        "--usage-sign",
        *extra,
    )
    pub_file = tmp / f"{key_id}.pub"
    world.tool(
        "--read-object",
        "--type",
        "pubkey",
        "--id",
        key_id,
        "-o",
        str(pub_file),
    )
    # pkcs11-tool writes Ed25519 keys as PEM and EC keys as DER.
    data = pub_file.read_bytes()
    public = (
        serialization.load_pem_public_key(data)
        if data.startswith(b"-----")
        else serialization.load_der_public_key(data)
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    certificate = issue_for_key(
        ca,
        subject,
        public,
        email,  # type: ignore[arg-type]
    )
    cert_file = tmp / f"{key_id}.der"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    world.tool(
        *login,
        "--write-object",
        str(cert_file),
        "--type",
        "cert",
        "--label",
        label,
        "--id",
        key_id,
    )
    return certificate


def issue_for_key(
    ca: CertificateAuthority,
    subject: x509.Name,
    public: CertificatePublicKeyTypes,
    email: str,
) -> x509.Certificate:
    """An S/MIME signing certificate for a public key (no private key)."""
    request_like = [
        x509.Extension(
            x509.SubjectAlternativeName.oid,
            False,
            x509.SubjectAlternativeName([x509.RFC822Name(email)]),
        ),
        x509.Extension(
            x509.ExtendedKeyUsage.oid,
            False,
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
        ),
    ]
    return _issue(ca, subject, public, request_like)


def build_world(tmp: Path) -> TokenWorld:
    """Initialise tokens and write keys and certificates; see module doc."""
    for tool in ("softhsm2-util", "pkcs11-tool"):
        if shutil.which(tool) is None:
            _missing(f"{tool} not found (apt-get install softhsm2 opensc)")
    module = _find_module()
    tokens = tmp / "tokens"
    tokens.mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    for label, pin in (
        (CLERK_TOKEN, PIN),
        (PIN_TOKEN, OTHER_PIN),
        (CSR_TOKEN, PIN),
    ):
        _run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                pin,
                "--so-pin",
                SO_PIN,
            ],
            env,
        )

    now = dt.datetime.now(dt.UTC)
    validity = {
        "not_before": now - dt.timedelta(days=1),
        "not_after": now + dt.timedelta(days=365),
    }
    root = CertificateAuthority.new_root(
        "Demo Government Root CA",
        "Ban Cơ yếu Chính phủ (demo)",
        key_spec="p256",
        **validity,
    )
    ministry = root.issue_ca(
        CA_LABEL, "Bộ Nội vụ (demo)", key_spec="p256", **validity
    )

    def person(name: str, email: str, spec: str) -> LocalKey:
        return ministry.issue_end_entity(
            name,
            "Sở Nội vụ tỉnh Demo",
            email,
            key=new_private_key(spec),
            **validity,
        )

    rsa_key = person(
        RSA_LABEL.removeprefix("Khóa ký "), "an@snv.gov.vn", "rsa2048"
    )
    ec_key = person(EC_LABEL, "cuong@snv.gov.vn", "p256")
    nfd_key = person(NFD_LABEL, "binh@snv.gov.vn", "p256")
    pin_key = person("Phạm Thị Dung", "dung@snv.gov.vn", "p256")

    shim = _build_shim(tmp, module)
    trust_file = tmp / "trust.pem"
    trust_file.write_bytes(
        root.certificate.public_bytes(serialization.Encoding.PEM)
    )
    world = TokenWorld(
        module=module,
        locked_module=shim,
        conf=conf,
        env=env,
        root=root,
        ministry=ministry,
        rsa=rsa_key,
        ec=ec_key,
        nfd=nfd_key,
        pin_key=pin_key,
        trust_file=trust_file,
        ed_certificate=ministry.certificate,  # replaced below
        always_auth_certificate=ministry.certificate,  # replaced below
    )
    sign_decrypt = ["--usage-sign", "--usage-decrypt"]
    sign_derive = ["--usage-sign", "--usage-derive"]
    _write_key(
        world, tmp, CLERK_TOKEN, PIN, rsa_key, RSA_LABEL, b"\x01", sign_decrypt
    )
    _write_key(
        world, tmp, CLERK_TOKEN, PIN, ec_key, EC_LABEL, b"\x02", sign_derive
    )
    _write_key(
        world,
        tmp,
        CLERK_TOKEN,
        PIN,
        nfd_key,
        unicodedata.normalize("NFD", NFD_LABEL),
        b"\x03",
        sign_derive,
    )
    ca_file = tmp / "ca.der"
    ca_file.write_bytes(
        ministry.certificate.public_bytes(serialization.Encoding.DER)
    )
    world.tool(
        "--login",
        "--pin",
        PIN,
        "--write-object",
        str(ca_file),
        "--type",
        "cert",
        "--label",
        CA_LABEL,
        "--id",
        "ca",
    )
    _write_key(
        world, tmp, PIN_TOKEN, OTHER_PIN, pin_key, "dung", b"\x04", sign_derive
    )
    ed = _generated_on_token(
        world,
        tmp,
        ministry,
        key_type="EC:edwards25519",
        label=ED_LABEL,
        key_id="0e",
        name="Võ Thị Ed",
        email="ed@snv.gov.vn",
    )
    always = _generated_on_token(
        world,
        tmp,
        ministry,
        key_type="EC:prime256v1",
        label=ALWAYS_AUTH_LABEL,
        key_id="0a",
        name="Đỗ Văn Hải",
        email="hai@snv.gov.vn",
        extra=["--always-auth"],
    )
    return dataclasses.replace(
        world, ed_certificate=ed, always_auth_certificate=always
    )


@pytest.fixture(scope="session")
def token_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TokenWorld]:
    """The session's SoftHSM2 world; SOFTHSM2_CONF points at it."""
    tmp = tmp_path_factory.mktemp("softhsm")
    world = build_world(tmp)
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(world.conf)
    yield world
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def certificate_der(certificate: x509.Certificate) -> bytes:
    """DER of ``certificate``, for comparisons."""
    return certificate.public_bytes(serialization.Encoding.DER)


def issue_from_csr(
    ca: CertificateAuthority, request: x509.CertificateSigningRequest
) -> x509.Certificate:
    """What a CA does with a request: a certificate with its extensions."""
    assert request.is_signature_valid
    return _issue(
        ca,
        request.subject,
        request.public_key(),
        list(request.extensions),
    )


def _issue(
    ca: CertificateAuthority,
    subject: x509.Name,
    public: CertificatePublicKeyTypes,
    extensions: Sequence[x509.Extension[x509.ExtensionType]],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca.key.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    )
    for extension in extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]


def openssl_cms_verify(
    signed: Path, trust_file: Path
) -> subprocess.CompletedProcess[str]:
    """``openssl cms -verify`` of an S/MIME file against ``trust_file``."""
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-in",
            str(signed),
            "-CAfile",
            str(trust_file),
            "-out",
            os.devnull,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
