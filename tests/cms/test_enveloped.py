"""EnvelopedData / AuthEnvelopedData: round trips, recipient choice,
implicit rejection, and one test per kind of bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import cms
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govsign.cms import enveloped
from govsign.cms._asn1 import GCMParameters
from govsign.cms.enveloped import (
    ContentEncryption,
    Recipient,
    build_envelope,
    open_envelope,
)
from govsign.errors import (
    DecryptionError,
    EncryptionError,
    GovsignError,
    MalformedMessageError,
)
from govsign.keys import KeyTransportPadding, LocalKey

CONTENT = b"Content-Type: text/plain\r\n\r\nBi mat nha nuoc? Khong.\r\n"
GCM = ContentEncryption.AES256_GCM
CBC = ContentEncryption.AES256_CBC
V15 = KeyTransportPadding.PKCS1V15


def _recipient(enc_pki, name, padding=KeyTransportPadding.OAEP_SHA256):
    return Recipient(enc_pki.keys[name].certificate, padding)


def _ciphertext(der: bytes) -> bytes:
    info = cms.ContentInfo.load(der)
    body = info["content"]
    if info["content_type"].native == "authenticated_enveloped_data":
        eci = body["auth_encrypted_content_info"]
    else:
        eci = body["encrypted_content_info"]
    return bytes(eci["encrypted_content"].native)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["rsa", "p256", "p384", "x25519"])
@pytest.mark.parametrize(
    "cipher",
    [
        ContentEncryption.AES256_GCM,
        ContentEncryption.AES128_GCM,
        ContentEncryption.AES256_CBC,
        ContentEncryption.AES128_CBC,
    ],
)
def test_round_trip_each_key_type_and_cipher(enc_pki, name, cipher):
    der = build_envelope(
        CONTENT, [_recipient(enc_pki, name)], content_encryption=cipher
    )
    opened = open_envelope(der, enc_pki.keys[name])
    assert opened.content == CONTENT
    assert opened.content_encryption is cipher
    assert opened.integrity_protected is cipher.authenticated
    expected = "AuthEnvelopedData" if cipher.authenticated else "EnvelopedData"
    assert opened.structure == expected


@pytest.mark.parametrize(
    ("name", "management"),
    [
        ("rsa", "rsaes-oaep-sha256"),
        ("p256", "ecdh-x963-sha256+aes256-wrap"),
        ("p384", "ecdh-x963-sha384+aes256-wrap"),
        ("x25519", "x25519-hkdf-sha256+aes256-wrap"),
    ],
)
def test_default_key_management_per_key_type(enc_pki, name, management):
    der = build_envelope(CONTENT, [_recipient(enc_pki, name)])
    assert open_envelope(der, enc_pki.keys[name]).key_management == management


@pytest.mark.parametrize("name", ["p256", "p384", "x25519"])
def test_key_agreement_with_user_keying_material(enc_pki, name):
    der = build_envelope(
        CONTENT, [_recipient(enc_pki, name)], user_keying_material=True
    )
    kari = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen
    assert len(kari["ukm"].native) == 16
    assert open_envelope(der, enc_pki.keys[name]).content == CONTENT


def test_pkcs1v15_only_on_request(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa", V15)])
    opened = open_envelope(der, enc_pki.keys["rsa"])
    assert opened.key_management == "rsaes-pkcs1v15"
    assert opened.content == CONTENT


def test_mixed_recipients_each_finds_its_own_entry(enc_pki):
    names = ["rsa", "p256", "p384", "x25519", "clerk"]
    der = build_envelope(CONTENT, [_recipient(enc_pki, n) for n in names])
    for name in names:
        opened = open_envelope(der, enc_pki.keys[name])
        assert opened.content == CONTENT
        matching = [r for r in opened.recipients if r.matches_key]
        assert len(matching) == 1
        assert len(opened.recipients) == len(names)


def test_entry_for_key_is_not_the_first(enc_pki):
    der = build_envelope(
        CONTENT,
        [_recipient(enc_pki, "rsa"), _recipient(enc_pki, "p256")],
    )
    opened = open_envelope(der, enc_pki.keys["p256"])
    assert [r.matches_key for r in opened.recipients] == [False, True]


# ------------------------------------------------- failures look the same


class _FailingTransport:
    """A Decrypter whose RSA unwrap fails, as a bad padding would."""

    def __init__(self, key: LocalKey, result: bytes | None = None) -> None:
        self._key = key
        self._result = result

    @property
    def certificate(self) -> x509.Certificate:
        return self._key.certificate

    def decrypt_key_transport(self, encrypted_key, padding_kind):
        if self._result is not None:
            return self._result
        raise DecryptionError("decryption failed")

    def key_agreement(self, peer_public_key):
        raise AssertionError("not used")


def _error_of(call) -> DecryptionError:
    with pytest.raises(DecryptionError) as info:
        call()
    return info.value


def test_pkcs1v15_padding_failure_continues_with_random_key(
    enc_pki, monkeypatch
):
    # RFC 3218: a failed unwrap must not end decryption early; the content
    # decryption runs with a random key of the right length.
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa", V15)])
    seen: list[int] = []
    real = enveloped.decrypt_content

    def spy(parsed, cek):
        seen.append(len(cek))
        return real(parsed, cek)

    monkeypatch.setattr(enveloped, "decrypt_content", spy)
    failing = _FailingTransport(enc_pki.keys["rsa"])
    error = _error_of(lambda: open_envelope(der, failing))
    assert seen == [32]
    assert str(error) == "decryption failed"


def test_pkcs1v15_wrong_length_key_treated_like_failure(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa", V15)])
    short = _FailingTransport(enc_pki.keys["rsa"], result=b"\x00" * 5)
    assert str(_error_of(lambda: open_envelope(der, short))) == (
        "decryption failed"
    )


def test_padding_key_and_tag_failures_share_one_error(enc_pki):
    key = enc_pki.keys["rsa"]
    good = build_envelope(CONTENT, [_recipient(enc_pki, "rsa", V15)])
    encrypted_key = bytes(
        cms.ContentInfo.load(good)["content"]["recipient_infos"][0]
        .chosen["encrypted_key"]
        .native
    )
    bad_padding = good.replace(encrypted_key, bytes(len(encrypted_key)))
    bad_tag = good[:-1] + bytes([good[-1] ^ 1])  # the mac is last
    errors = [
        _error_of(lambda: open_envelope(bad_padding, key)),
        _error_of(lambda: open_envelope(bad_tag, key)),
        _error_of(lambda: open_envelope(good, _FailingTransport(key))),
    ]
    assert {(type(e), str(e)) for e in errors} == {
        (DecryptionError, "decryption failed")
    }


def test_oaep_failure_gives_the_same_error(enc_pki):
    good = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    failing = _FailingTransport(enc_pki.keys["rsa"])
    assert str(_error_of(lambda: open_envelope(good, failing))) == (
        "decryption failed"
    )


def test_gcm_tag_failure_releases_nothing(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "p256")])
    ciphertext = _ciphertext(der)
    flipped = bytes([ciphertext[0] ^ 0x80]) + ciphertext[1:]
    tampered = der.replace(ciphertext, flipped)
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        open_envelope(tampered, enc_pki.keys["p256"])


def test_key_agreement_with_wrong_key_fails_generically(enc_pki):
    # Same certificate, different private key: the KEK unwrap fails.
    impostor = _FailingTransport(enc_pki.keys["p256"])
    impostor.key_agreement = lambda peer: b"\x01" * 32  # type: ignore
    der = build_envelope(CONTENT, [_recipient(enc_pki, "p256")])
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        open_envelope(der, impostor)


# ------------------------------------------------------- property tests


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.binary(max_size=4096),
    cipher=st.sampled_from(
        [
            ContentEncryption.AES256_GCM,
            ContentEncryption.AES128_GCM,
            ContentEncryption.AES256_CBC,
            ContentEncryption.AES128_CBC,
        ]
    ),
    name=st.sampled_from(["rsa", "p256", "x25519"]),
)
def test_property_round_trip_arbitrary_content(enc_pki, content, cipher, name):
    der = build_envelope(
        content, [_recipient(enc_pki, name)], content_encryption=cipher
    )
    assert open_envelope(der, enc_pki.keys[name]).content == content


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.binary(min_size=1, max_size=512),
    data=st.data(),
)
def test_property_flipped_ciphertext_byte_detected_for_gcm(
    enc_pki, content, data
):
    der = build_envelope(content, [_recipient(enc_pki, "p256")])
    body = cms.ContentInfo.load(der)["content"]
    eci = body["auth_encrypted_content_info"]
    nonce = bytes(
        GCMParameters.load(
            eci["content_encryption_algorithm"]["parameters"].dump()
        )["aes_nonce"].native
    )
    ciphertext = _ciphertext(der)
    # The DER ends with [0] ciphertext, then the 16-byte mac; every byte
    # of ciphertext, nonce and tag must be covered.
    offsets = {
        "mac": (len(der) - 16, 16),
        "ciphertext": (len(der) - 18 - len(ciphertext), len(ciphertext)),
        "nonce": (der.index(b"\x04\x0c" + nonce) + 2, 12),
    }
    assert der[offsets["ciphertext"][0] :].startswith(ciphertext)
    start, length = offsets[data.draw(st.sampled_from(sorted(offsets)))]
    index = start + data.draw(st.integers(0, length - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = (
        der[:index] + bytes([der[index] ^ (1 << bit)]) + der[index + 1 :]
    )
    with pytest.raises(DecryptionError):
        open_envelope(tampered, enc_pki.keys["p256"])


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_property_any_flipped_byte_never_yields_other_plaintext(enc_pki, data):
    # Anywhere in the structure: either a clean govsign error, or (for a
    # byte outside everything the key and tag cover) the same plaintext.
    der = _MIXED_GCM.get(enc_pki)
    index = data.draw(st.integers(0, len(der) - 1))
    value = data.draw(st.integers(1, 255))
    tampered = der[:index] + bytes([der[index] ^ value]) + der[index + 1 :]
    try:
        opened = open_envelope(tampered, enc_pki.keys["p256"])
    except GovsignError:
        return
    assert opened.content == CONTENT


class _Cache:
    def __init__(self) -> None:
        self._der: bytes | None = None

    def get(self, enc_pki) -> bytes:
        if self._der is None:
            self._der = build_envelope(
                CONTENT,
                [_recipient(enc_pki, "rsa"), _recipient(enc_pki, "p256")],
            )
        return self._der


_MIXED_GCM = _Cache()


# -------------------------------------------------------- bad input


def _reencode(der: bytes, edit) -> bytes:
    info = cms.ContentInfo.load(der)
    edit(info["content"])
    return bytes(info.dump(force=True))


def test_truncated_cms_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    for cut in (1, 10, len(der) // 2, len(der) - 1):
        with pytest.raises(MalformedMessageError):
            open_envelope(der[:cut], enc_pki.keys["rsa"])


@pytest.mark.parametrize("name", ["p256", "x25519"])
def test_truncated_cms_at_every_length_raises_malformed(enc_pki, name):
    der = build_envelope(b"short", [_recipient(enc_pki, name)])
    for cut in range(len(der)):
        with pytest.raises(MalformedMessageError):
            open_envelope(der[:cut], enc_pki.keys[name])


def test_small_order_x25519_ephemeral_key_fails_cleanly(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "x25519")])
    kari = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen
    point = bytes(kari["originator"].chosen["public_key"].contents)[1:]
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        open_envelope(der.replace(point, bytes(32)), enc_pki.keys["x25519"])


def test_trailing_garbage_after_cms_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    with pytest.raises(MalformedMessageError):
        open_envelope(der + b"\x00\x01", enc_pki.keys["rsa"])


def test_not_der_at_all_raises_malformed(enc_pki):
    with pytest.raises(MalformedMessageError):
        open_envelope(b"hello, world", enc_pki.keys["rsa"])


def test_unknown_content_encryption_oid_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    aes256_gcm = bytes.fromhex("060960864801650304012e")
    unknown = bytes.fromhex("060960864801650304017f")
    assert aes256_gcm in der
    with pytest.raises(MalformedMessageError, match="content encryption"):
        open_envelope(der.replace(aes256_gcm, unknown), enc_pki.keys["rsa"])


def test_unknown_key_transport_oid_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    oaep = bytes.fromhex("06092a864886f70d010107")
    unknown = bytes.fromhex("06092a864886f70d01017f")
    with pytest.raises(MalformedMessageError, match="unsupported key"):
        open_envelope(der.replace(oaep, unknown), enc_pki.keys["rsa"])


def test_unknown_key_agreement_scheme_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "p256")])
    sha256kdf = bytes.fromhex("06062b8104010b01")
    unknown = bytes.fromhex("06062b8104010b7f")
    assert sha256kdf in der
    with pytest.raises(MalformedMessageError, match="unsupported key"):
        open_envelope(der.replace(sha256kdf, unknown), enc_pki.keys["p256"])


def test_gcm_in_enveloped_data_raises_malformed(enc_pki):
    der = build_envelope(
        CONTENT, [_recipient(enc_pki, "rsa")], content_encryption=CBC
    )
    aes256_cbc = bytes.fromhex("060960864801650304012a")
    aes256_gcm = bytes.fromhex("060960864801650304012e")
    with pytest.raises(MalformedMessageError, match="cannot use"):
        open_envelope(der.replace(aes256_cbc, aes256_gcm), enc_pki.keys["rsa"])


def test_inconsistent_gcm_tag_length_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])

    def shorten(body):
        algorithm = body["auth_encrypted_content_info"][
            "content_encryption_algorithm"
        ]
        params = GCMParameters.load(algorithm["parameters"].dump())
        algorithm["parameters"] = GCMParameters(
            {"aes_nonce": params["aes_nonce"].native, "aes_icvlen": 12}
        )

    with pytest.raises(MalformedMessageError, match="tag length"):
        open_envelope(_reencode(der, shorten), enc_pki.keys["rsa"])


def _with_short_tag(der: bytes) -> bytes:
    # GCM tags are truncations: the first 12 bytes of the 16-byte tag.
    def shorten(body):
        algorithm = body["auth_encrypted_content_info"][
            "content_encryption_algorithm"
        ]
        params = GCMParameters.load(algorithm["parameters"].dump())
        algorithm["parameters"] = GCMParameters(
            {"aes_nonce": params["aes_nonce"].native, "aes_icvlen": 12}
        )
        body["mac"] = bytes(body["mac"].native)[:12]

    return _reencode(der, shorten)


def test_twelve_byte_gcm_tag_rfc5084_default_is_read(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "p256")])
    short = _with_short_tag(der)
    assert open_envelope(short, enc_pki.keys["p256"]).content == CONTENT
    tampered = short[:-1] + bytes([short[-1] ^ 1])
    with pytest.raises(DecryptionError, match="^decryption failed$"):
        open_envelope(tampered, enc_pki.keys["p256"])


def test_absent_encrypted_content_raises_malformed(enc_pki):
    der = build_envelope(
        CONTENT, [_recipient(enc_pki, "rsa")], content_encryption=CBC
    )

    def detach(body):
        eci = body["encrypted_content_info"]
        body["encrypted_content_info"] = cms.EncryptedContentInfo(
            {
                "content_type": "data",
                "content_encryption_algorithm": eci[
                    "content_encryption_algorithm"
                ],
            }
        )

    with pytest.raises(MalformedMessageError, match="absent"):
        open_envelope(_reencode(der, detach), enc_pki.keys["rsa"])


def test_signed_data_is_not_an_envelope(enc_pki):
    signed = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": {
                "version": "v1",
                "digest_algorithms": [],
                "encap_content_info": {"content_type": "data"},
                "signer_infos": [],
            },
        }
    ).dump()
    with pytest.raises(MalformedMessageError, match="not EnvelopedData"):
        open_envelope(signed, enc_pki.keys["rsa"])


def test_key_matching_no_recipient_raises_clear_error(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "rsa")])
    with pytest.raises(DecryptionError, match="not encrypted for"):
        open_envelope(der, enc_pki.keys["p256"])


def test_invalid_ephemeral_point_raises_malformed(enc_pki):
    der = build_envelope(CONTENT, [_recipient(enc_pki, "p256")])
    kari = cms.ContentInfo.load(der)["content"]["recipient_infos"][0].chosen
    point = bytes(kari["originator"].chosen["public_key"].contents)[1:]
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    with pytest.raises(MalformedMessageError, match="ephemeral"):
        open_envelope(der.replace(point, off_curve), enc_pki.keys["p256"])


# ------------------------------------------------------ what is refused


def test_empty_recipient_list_refused():
    with pytest.raises(EncryptionError, match="no recipients"):
        build_envelope(CONTENT, [])


def test_signing_only_certificate_refused(enc_pki):
    with pytest.raises(EncryptionError, match="key usage"):
        build_envelope(CONTENT, [_recipient(enc_pki, "signing-only")])


@pytest.mark.parametrize(
    "key_spec, reason",
    [("ed25519", "Ed25519"), ("rsa1024", "1024 bits")],
    ids=["ed25519_certificate_refused", "short_rsa_key_refused"],
)
def test_recipient_key_that_cannot_receive_is_refused(
    enc_pki, key_spec, reason
):
    now = dt.datetime.now(dt.UTC)
    holder = enc_pki.demo.ministry.issue_end_entity(
        key_spec,
        "Org",
        f"{key_spec}@example.vn",
        key_spec=key_spec,
        not_before=now,
        not_after=now + dt.timedelta(days=1),
    )
    with pytest.raises(EncryptionError, match=reason):
        build_envelope(CONTENT, [Recipient(holder.certificate)])


def test_triple_des_is_read_only(enc_pki):
    with pytest.raises(EncryptionError, match="Triple-DES"):
        build_envelope(
            CONTENT,
            [_recipient(enc_pki, "rsa")],
            content_encryption=ContentEncryption.DES_EDE3_CBC,
        )


def test_oaep_sha1_not_written(enc_pki):
    with pytest.raises(EncryptionError, match="SHA-1"):
        build_envelope(
            CONTENT,
            [_recipient(enc_pki, "rsa", KeyTransportPadding.OAEP_SHA1)],
        )


@pytest.mark.parametrize(
    ("start", "end"),
    [(-30, -1), (1, 30)],
    ids=["expired", "not_yet_valid"],
)
def test_certificate_outside_validity_refused(enc_pki, start, end):
    now = dt.datetime.now(dt.UTC)
    holder = enc_pki.demo.ministry.issue_end_entity(
        "Out of time",
        "Org",
        "time@example.vn",
        key_spec="p256",
        not_before=now + dt.timedelta(days=start),
        not_after=now + dt.timedelta(days=end),
    )
    with pytest.raises(EncryptionError, match="valid only from"):
        build_envelope(CONTENT, [Recipient(holder.certificate)])
