"""Key sources: signers and decrypters, wherever the key lives."""

from govsign.keys.base import (
    Decrypter,
    HashName,
    KeyTransportPadding,
    OaepDecrypter,
    OaepParameters,
    SignatureAlgorithm,
    SignatureScheme,
    Signer,
)
from govsign.keys.local import LocalKey, load_pem, load_pkcs12
from govsign.keys.source import SecretSource, open_key
from govsign.keys.uri import Pkcs11Uri, parse_pkcs11_uri

__all__ = [
    "Decrypter",
    "HashName",
    "KeyTransportPadding",
    "LocalKey",
    "OaepDecrypter",
    "OaepParameters",
    "Pkcs11Uri",
    "SignatureAlgorithm",
    "SecretSource",
    "SignatureScheme",
    "Signer",
    "load_pem",
    "load_pkcs12",
    "open_key",
    "parse_pkcs11_uri",
]
