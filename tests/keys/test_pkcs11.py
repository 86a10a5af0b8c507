"""Keys on a SoftHSM2 token: signing checked by openssl, decryption, ECDH,
Vietnamese labels, and every way opening a token key can go wrong."""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from govsign.errors import DecryptionError, KeySourceError, SigningError
from govsign.keys import open_key
from govsign.keys.base import (
    HashName,
    KeyTransportPadding,
    SignatureAlgorithm,
    SignatureScheme,
)
from govsign.keys.inventory import inspect_tokens
from govsign.keys.pkcs11 import Pkcs11Key, open_pkcs11
from govsign.keys.uri import parse_pkcs11_uri
from tests.softhsm import (
    ALWAYS_AUTH_LABEL,
    CA_LABEL,
    CLERK_TOKEN,
    EC_LABEL,
    ED_LABEL,
    NFD_LABEL,
    OTHER_PIN,
    PIN,
    PIN_TOKEN,
    RSA_LABEL,
    TokenWorld,
    certificate_der,
)

DATA = "Công văn số 12/SNV-VP: họp giao ban".encode()


class CountingSecret:
    """A SecretSource that records how often it was asked."""

    def __init__(self, value: str) -> None:
        self.value = value.encode()
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.value


@pytest.fixture
def open_token(
    token_world: TokenWorld,
) -> Iterator[Callable[..., Pkcs11Key]]:
    """Open token keys and close them after the test (logs out)."""
    opened: list[Pkcs11Key] = []

    def _open(uri: str, pin: str = PIN, **kwargs: object) -> Pkcs11Key:
        secret = CountingSecret(pin)
        key = open_pkcs11(uri, secret, **kwargs)  # type: ignore[arg-type]
        opened.append(key)
        return key

    yield _open
    for key in opened:
        key.close()


def _openssl_verify(
    tmp_path: Path,
    key: Pkcs11Key,
    algorithm: SignatureAlgorithm,
    signature: bytes,
) -> subprocess.CompletedProcess[str]:
    data_file = tmp_path / "data.bin"
    sig_file = tmp_path / "sig.bin"
    pub_file = tmp_path / "pub.pem"
    data_file.write_bytes(DATA)
    sig_file.write_bytes(signature)
    pub_file.write_bytes(
        key.certificate.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    argv = [
        "openssl",
        "dgst",
        f"-{algorithm.digest.value}",
        "-verify",
        str(pub_file),
        "-signature",
        str(sig_file),
    ]
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        argv += [
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]
    return subprocess.run(
        [*argv, str(data_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.interop
def test_rsa_signatures_verify_with_openssl(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    tmp_path: Path,
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    algorithms = list(key.supported_algorithms())
    assert {a.scheme for a in algorithms} == {
        SignatureScheme.RSA_PKCS1V15,
        SignatureScheme.RSA_PSS,
    }
    assert len(algorithms) == 6
    for algorithm in algorithms:
        signature = key.sign(DATA, algorithm)
        done = _openssl_verify(tmp_path, key, algorithm, signature)
        assert done.returncode == 0, (algorithm, done.stderr)
        assert "Verified OK" in done.stdout


@pytest.mark.interop
def test_ecdsa_signatures_are_der_and_verify_with_openssl(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    tmp_path: Path,
) -> None:
    key = open_token(token_world.uri(object=EC_LABEL))
    algorithms = list(key.supported_algorithms())
    assert algorithms[0] == SignatureAlgorithm(
        SignatureScheme.ECDSA, HashName.SHA256
    )
    for algorithm in algorithms:
        signature = key.sign(DATA, algorithm)
        assert signature[0] == 0x30  # DER Ecdsa-Sig-Value, not raw r||s
        done = _openssl_verify(tmp_path, key, algorithm, signature)
        assert done.returncode == 0, (algorithm, done.stderr)


@pytest.mark.interop
def test_ed25519_key_generated_on_token_verifies_with_openssl(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    tmp_path: Path,
) -> None:
    key = open_token(token_world.uri(object=ED_LABEL))
    algorithm = SignatureAlgorithm(SignatureScheme.ED25519, HashName.SHA512)
    assert list(key.supported_algorithms()) == [algorithm]
    signature = key.sign(DATA, algorithm)
    (tmp_path / "data.bin").write_bytes(DATA)
    (tmp_path / "sig.bin").write_bytes(signature)
    (tmp_path / "cert.pem").write_bytes(
        token_world.ed_certificate.public_bytes(serialization.Encoding.PEM)
    )
    done = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-rawin",
            "-certin",
            "-inkey",
            str(tmp_path / "cert.pem"),
            "-in",
            str(tmp_path / "data.bin"),
            "-sigfile",
            str(tmp_path / "sig.bin"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Signature Verified Successfully" in done.stdout


@pytest.mark.interop
def test_openssl_rejects_a_signature_over_other_data(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    tmp_path: Path,
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    algorithm = SignatureAlgorithm(SignatureScheme.RSA_PSS, HashName.SHA256)
    signature = key.sign(DATA + b".", algorithm)
    done = _openssl_verify(tmp_path, key, algorithm, signature)
    assert done.returncode != 0


def test_certificate_and_chain_come_from_the_token(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(id=b"\x01"))
    assert certificate_der(key.certificate) == certificate_der(
        token_world.rsa.certificate
    )
    assert [certificate_der(c) for c in key.chain] == [
        certificate_der(token_world.ministry.certificate)
    ]
    assert key.label == RSA_LABEL


def test_vietnamese_label_typed_decomposed_finds_the_key(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    typed = unicodedata.normalize("NFD", EC_LABEL)
    key = open_token(
        f"pkcs11:token={CLERK_TOKEN};object={typed}"
        f"?module-path={token_world.module}"
    )
    assert certificate_der(key.certificate) == certificate_der(
        token_world.ec.certificate
    )


def test_label_stored_decomposed_on_token_is_found_by_nfc_name(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=NFD_LABEL))
    assert key.label == NFD_LABEL
    assert certificate_der(key.certificate) == certificate_der(
        token_world.nfd.certificate
    )


def test_token_label_in_vietnamese_selects_the_token(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(token=PIN_TOKEN), pin=OTHER_PIN)
    assert CLERK_TOKEN not in key.token_name
    assert PIN_TOKEN in key.token_name


def test_open_key_takes_module_from_environment(
    token_world: TokenWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVSIGN_PKCS11_MODULE", str(token_world.module))
    key = open_key(
        token_world.uri(object=EC_LABEL, module=False), lambda: PIN.encode()
    )
    try:
        assert isinstance(key, Pkcs11Key)
        assert key.label == EC_LABEL
    finally:
        key.close()


def test_open_key_takes_certificate_file_for_token_key(
    token_world: TokenWorld, tmp_path: Path
) -> None:
    cert_file = tmp_path / "an.pem"
    cert_file.write_bytes(
        token_world.rsa.certificate.public_bytes(serialization.Encoding.PEM)
        + token_world.ministry.certificate.public_bytes(
            serialization.Encoding.PEM
        )
    )
    key = open_key(
        token_world.uri(object=RSA_LABEL),
        lambda: PIN.encode(),
        certificate=str(cert_file),
    )
    try:
        assert certificate_der(key.certificate) == certificate_der(
            token_world.rsa.certificate
        )
        assert len(key.chain) == 1
    finally:
        key.close()


def test_certificate_of_another_key_is_refused(
    token_world: TokenWorld,
) -> None:
    with pytest.raises(KeySourceError, match="does not belong"):
        open_pkcs11(
            token_world.uri(object=RSA_LABEL),
            lambda: PIN.encode(),
            certificate=token_world.ec.certificate,
        )


def test_decrypt_pkcs1v15_and_oaep_sha1(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    public = key.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    cek = bytes(range(32))
    wrapped = public.encrypt(cek, padding.PKCS1v15())
    assert (
        key.decrypt_key_transport(wrapped, KeyTransportPadding.PKCS1V15) == cek
    )
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    wrapped = public.encrypt(cek, oaep)
    assert (
        key.decrypt_key_transport(wrapped, KeyTransportPadding.OAEP_SHA1)
        == cek
    )


def test_token_without_oaep_sha256_says_so(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    # SoftHSM 2.6 offers CKM_RSA_PKCS_OAEP but only with SHA-1.
    key = open_token(token_world.uri(object=RSA_LABEL))
    public = key.certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    wrapped = public.encrypt(b"k" * 32, oaep)
    with pytest.raises(
        KeySourceError, match="cannot decrypt rsaes-oaep-sha256"
    ):
        key.decrypt_key_transport(wrapped, KeyTransportPadding.OAEP_SHA256)


def test_corrupt_wrapped_key_gives_uniform_decryption_error(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    for garbage in (b"\x00" * 256, b"\x01" * 10):
        with pytest.raises(DecryptionError, match="^decryption failed$"):
            key.decrypt_key_transport(garbage, KeyTransportPadding.PKCS1V15)


def test_ecdh_secret_matches_the_peer(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=EC_LABEL))
    sender = ec.generate_private_key(ec.SECP256R1())
    secret = key.key_agreement(sender.public_key())
    public = key.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert secret == sender.exchange(ec.ECDH(), public)


def test_ecdh_with_peer_on_other_curve_fails_uniformly(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=EC_LABEL))
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        key.key_agreement(other)


def test_rsa_decrypt_with_ec_key_fails_uniformly(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=EC_LABEL))
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        key.decrypt_key_transport(b"\x00" * 32, KeyTransportPadding.PKCS1V15)


def test_algorithm_the_key_cannot_do_is_a_signing_error(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    ec_key = open_token(token_world.uri(object=EC_LABEL))
    with pytest.raises(SigningError, match="cannot sign with rsa-pss/sha256"):
        ec_key.sign(
            DATA, SignatureAlgorithm(SignatureScheme.RSA_PSS, HashName.SHA256)
        )
    rsa_key = open_token(token_world.uri(object=RSA_LABEL))
    with pytest.raises(SigningError, match="cannot sign with ecdsa/sha256"):
        rsa_key.sign(
            DATA, SignatureAlgorithm(SignatureScheme.ECDSA, HashName.SHA256)
        )


def test_token_signature_that_does_not_verify_is_refused(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))

    class FaultyToken:
        """Answers every sign with a well-formed but wrong value."""

        def __init__(self, real: object) -> None:
            self.real = real

        def __getitem__(self, item: object) -> object:
            return self.real[item]  # type: ignore[index]

        def sign(self, data: bytes, **kwargs: object) -> bytes:
            return b"\x01" * 256

    monkeypatch.setattr(key, "_key", FaultyToken(key._key))
    with pytest.raises(SigningError, match="does not verify"):
        key.sign(
            DATA,
            SignatureAlgorithm(SignatureScheme.RSA_PKCS1V15, HashName.SHA256),
        )


def test_wrong_pin_is_tried_once_and_explained(
    token_world: TokenWorld,
) -> None:
    secret = CountingSecret("000000")
    with pytest.raises(KeySourceError, match="wrong PIN for token") as info:
        open_pkcs11(token_world.uri(token=PIN_TOKEN), secret)
    assert "tried it once only" in str(info.value)
    assert secret.calls == 1


def test_locked_token_is_refused_without_asking_the_pin(
    token_world: TokenWorld,
) -> None:
    secret = CountingSecret(OTHER_PIN)
    uri = f"pkcs11:token={PIN_TOKEN}?module-path={token_world.locked_module}"
    with pytest.raises(KeySourceError, match="locked"):
        open_pkcs11(uri, secret)
    assert secret.calls == 0


def test_missing_module_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "libnothere.so"
    with pytest.raises(KeySourceError, match="does not exist"):
        open_pkcs11(f"pkcs11:token=x?module-path={missing}", lambda: b"")


def test_file_that_is_no_module_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_text("not a shared object")
    with pytest.raises(KeySourceError, match="cannot load PKCS#11 module"):
        open_pkcs11(f"pkcs11:token=x?module-path={fake}", lambda: b"")


def test_no_module_anywhere_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVSIGN_PKCS11_MODULE", raising=False)
    with pytest.raises(KeySourceError, match="GOVSIGN_PKCS11_MODULE"):
        open_key("pkcs11:token=x", lambda: b"")


def test_absent_token_lists_the_tokens_present(
    token_world: TokenWorld,
) -> None:
    with pytest.raises(
        KeySourceError, match="is the token plugged in"
    ) as info:
        open_pkcs11(token_world.uri(token="Không có"), lambda: b"")
    assert CLERK_TOKEN in str(info.value)


def test_missing_key_lists_the_keys_present(
    token_world: TokenWorld,
) -> None:
    with pytest.raises(KeySourceError, match="no private key") as info:
        open_pkcs11(token_world.uri(object="Khóa không có"), lambda: b"123456")
    assert RSA_LABEL in str(info.value)


def test_certificate_without_key_is_a_missing_key(
    token_world: TokenWorld,
) -> None:
    with pytest.raises(KeySourceError, match="no private key"):
        open_pkcs11(token_world.uri(object=CA_LABEL), lambda: PIN.encode())


def test_several_keys_without_a_name_is_ambiguous(
    token_world: TokenWorld,
) -> None:
    with pytest.raises(KeySourceError, match="name one with object="):
        open_pkcs11(token_world.uri(), lambda: PIN.encode())


def test_uri_naming_a_public_key_is_refused(token_world: TokenWorld) -> None:
    with pytest.raises(KeySourceError, match="type=public"):
        open_pkcs11(
            token_world.uri(object=RSA_LABEL).replace(
                "pkcs11:", "pkcs11:type=public;"
            ),
            lambda: PIN.encode(),
        )


def _without(key: Pkcs11Key, *names: str) -> None:
    # Make the token look like one that lacks these mechanisms.
    key._mechanisms = {
        m: f for m, f in key._mechanisms.items() if m.name not in names
    }


@pytest.mark.interop
def test_token_with_raw_rsa_only_signs_digestinfo_and_pss_correctly(
    token_world: TokenWorld,
    open_token: Callable[..., Pkcs11Key],
    tmp_path: Path,
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    _without(
        key,
        *(f"SHA{n}_RSA_PKCS" for n in (256, 384, 512)),
        *(f"SHA{n}_RSA_PKCS_PSS" for n in (256, 384, 512)),
    )
    algorithms = list(key.supported_algorithms())
    assert len(algorithms) == 6
    for algorithm in algorithms:
        plan = key._plan(algorithm)
        assert plan is not None and plan.prehash
        signature = key.sign(DATA, algorithm)
        done = _openssl_verify(tmp_path, key, algorithm, signature)
        assert done.returncode == 0, (algorithm, done.stderr)


def test_token_without_pss_offers_none_and_says_so(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(token_world.uri(object=RSA_LABEL))
    _without(
        key,
        "RSA_PKCS_PSS",
        *(f"SHA{n}_RSA_PKCS_PSS" for n in (256, 384, 512)),
    )
    schemes = {a.scheme for a in key.supported_algorithms()}
    assert schemes == {SignatureScheme.RSA_PKCS1V15}
    with pytest.raises(SigningError, match="lacks the mechanism") as info:
        key.sign(
            DATA, SignatureAlgorithm(SignatureScheme.RSA_PSS, HashName.SHA256)
        )
    assert "rsa-pkcs1v15/sha256" in str(info.value)


def test_one_key_signs_from_several_threads(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    # The gateway signs from worker threads; one session must serialise.
    key = open_token(token_world.uri(object=EC_LABEL))
    algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, HashName.SHA256)
    public = key.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    messages = [f"thư {n}".encode() for n in range(40)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        signatures = list(pool.map(lambda m: key.sign(m, algorithm), messages))
    for message, signature in zip(messages, signatures, strict=True):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_token_selected_by_serial_alone(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    (store,) = inspect_tokens(token_world.uri(), None)
    serial = parse_pkcs11_uri(store.location).serial
    assert serial
    key = open_token(
        f"pkcs11:serial={serial};object={quote(EC_LABEL)}"
        f"?module-path={token_world.module}"
    )
    assert key.label == EC_LABEL
    assert CLERK_TOKEN in key.token_name


def test_module_name_is_found_in_the_usual_places(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    key = open_token(
        f"pkcs11:token={quote(CLERK_TOKEN)};object={quote(EC_LABEL)}"
        "?module-name=softhsm2"
    )
    assert key.label == EC_LABEL


def test_key_wanting_pin_at_every_use_signs_each_time(
    token_world: TokenWorld, open_token: Callable[..., Pkcs11Key]
) -> None:
    # CKA_ALWAYS_AUTHENTICATE: without the context login each signature
    # fails with CKR_USER_NOT_LOGGED_IN.
    key = open_token(token_world.uri(object=ALWAYS_AUTH_LABEL))
    public = token_world.always_auth_certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    algorithm = SignatureAlgorithm(SignatureScheme.ECDSA, HashName.SHA256)
    for message in (b"lan 1", b"lan 2"):
        signature = key.sign(message, algorithm)
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
