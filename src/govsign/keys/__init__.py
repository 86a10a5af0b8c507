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

__all__ = [
    "Decrypter",
    "HashName",
    "KeyTransportPadding",
    "LocalKey",
    "OaepDecrypter",
    "OaepParameters",
    "SignatureAlgorithm",
    "SecretSource",
    "SignatureScheme",
    "Signer",
    "load_pem",
    "load_pkcs12",
    "open_key",
]
