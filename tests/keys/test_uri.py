"""RFC 7512 pkcs11: URIs: parsing, Vietnamese text, refusals."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govsign.errors import KeySourceError
from govsign.keys.uri import Pkcs11Uri, is_pkcs11_uri, parse_pkcs11_uri


def test_rfc7512_example_with_module_path() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
        "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
        "?module-path=/usr/lib/softhsm/libsofthsm2.so"
    )
    assert uri.token == "The Software PKCS#11 Softtoken"
    assert uri.manufacturer == "Snake Oil, Inc."
    assert uri.model == "1.0"
    assert uri.object == "my-certificate"
    assert uri.type == "cert"
    assert uri.id == bytes.fromhex("69953e5cf4bdec91")
    assert uri.serial == ""
    assert uri.module_path == "/usr/lib/softhsm/libsofthsm2.so"


def test_percent_encoded_vietnamese_label_is_nfc_text() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:object=Kh%C3%B3a%20k%C3%BD%20Nguy%E1%BB%85n%20V%C4%83n%20An"
    )
    assert uri.object == "Khóa ký Nguyễn Văn An"


def test_decomposed_label_is_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Lê Văn Cường")
    assert decomposed != "Lê Văn Cường"
    uri = parse_pkcs11_uri(f"pkcs11:object={decomposed}")
    assert uri.object == "Lê Văn Cường"


def test_scheme_is_case_insensitive() -> None:
    assert is_pkcs11_uri("PKCS11:token=a")
    assert parse_pkcs11_uri("PKCS11:token=a").token == "a"


def test_slot_id_is_a_number() -> None:
    assert parse_pkcs11_uri("pkcs11:slot-id=7").slot_id == 7


def test_not_a_pkcs11_uri_is_refused() -> None:
    with pytest.raises(KeySourceError, match="not a pkcs11: URI"):
        parse_pkcs11_uri("file:clerk.p12")


def test_pin_value_in_uri_is_refused() -> None:
    with pytest.raises(KeySourceError, match="PIN must never"):
        parse_pkcs11_uri("pkcs11:token=a?pin-value=123456")


def test_pin_source_in_uri_is_refused() -> None:
    with pytest.raises(KeySourceError, match="--pin-file"):
        parse_pkcs11_uri("pkcs11:token=a?pin-source=file:/tmp/pin")


def test_unknown_attribute_is_refused() -> None:
    with pytest.raises(KeySourceError, match="unknown attribute 'label'"):
        parse_pkcs11_uri("pkcs11:label=x")


def test_repeated_attribute_is_refused() -> None:
    with pytest.raises(KeySourceError, match="repeated"):
        parse_pkcs11_uri("pkcs11:object=a;object=b")


def test_bad_type_is_refused() -> None:
    with pytest.raises(KeySourceError, match="type='key'"):
        parse_pkcs11_uri("pkcs11:type=key")


def test_bad_slot_id_is_refused() -> None:
    with pytest.raises(KeySourceError, match="slot-id"):
        parse_pkcs11_uri("pkcs11:slot-id=one")


def test_attribute_without_equals_is_refused() -> None:
    with pytest.raises(KeySourceError, match="has no '='"):
        parse_pkcs11_uri("pkcs11:token")


def test_label_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(KeySourceError, match="not UTF-8"):
        parse_pkcs11_uri("pkcs11:object=%C3%28")


def test_str_percent_encodes_utf8_and_separators() -> None:
    uri = Pkcs11Uri(
        token="Sở Nội vụ;x", id=b"\x01\xff", module_path="/m/lib a.so"
    )
    text = str(uri)
    assert text == (
        "pkcs11:id=%01%FF;token=S%E1%BB%9F%20N%E1%BB%99i%20v%E1%BB%A5%3Bx"
        "?module-path=/m/lib%20a.so"
    )
    assert parse_pkcs11_uri(text) == uri


@given(
    token=st.text(min_size=1, max_size=20),
    obj=st.text(max_size=20),
    key_id=st.binary(max_size=8),
)
def test_str_and_parse_round_trip(token: str, obj: str, key_id: bytes) -> None:
    uri = Pkcs11Uri(
        token=unicodedata.normalize("NFC", token),
        object=unicodedata.normalize("NFC", obj),
        id=key_id,
    )
    assert parse_pkcs11_uri(str(uri)) == uri
