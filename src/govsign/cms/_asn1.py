"""ASN.1 types and object identifiers that asn1crypto lacks.

Names follow the RFCs that define them: ``GCMParameters`` (RFC 5084),
``ECC_CMS_SharedInfo`` (RFC 5753 section 7.2).  Private to govsign.cms.
"""

from __future__ import annotations

from asn1crypto import core

__all__ = [
    "GCMParameters",
    "ECC_CMS_SharedInfo",
    "ECDH_X963_SCHEMES",
    "X25519_HKDF_SCHEMES",
    "SCHEME_OIDS",
]


class GCMParameters(core.Sequence):  # type: ignore[misc]
    """RFC 5084 section 3.2: nonce and tag (ICV) length."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class _KeyInfo(core.Sequence):  # type: ignore[misc]
    # An AlgorithmIdentifier whose parameters are kept as they came.
    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


# The class keeps the RFC 5753 name (hence no N801 complaint wanted).
class ECC_CMS_SharedInfo(core.Sequence):  # type: ignore[misc]  # noqa: N801
    """RFC 5753 section 7.2: the input to the key derivation function."""

    _fields = [
        ("key_info", _KeyInfo),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


# RFC 5753 section 7.1.4 (and SEC 1): ECDH with the X9.63 KDF.  The
# cofactor variants give the same result on the NIST prime curves, whose
# cofactor is 1.
ECDH_X963_SCHEMES: dict[str, str] = {
    "1.3.133.16.840.63.0.2": "sha1",
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
    "1.3.133.16.840.63.0.3": "sha1",
    "1.3.132.1.14.0": "sha224",
    "1.3.132.1.14.1": "sha256",
    "1.3.132.1.14.2": "sha384",
    "1.3.132.1.14.3": "sha512",
}

# RFC 8418 section 2: X25519/X448 with HKDF.
X25519_HKDF_SCHEMES: dict[str, str] = {
    "1.2.840.113549.1.9.16.3.19": "sha256",
    "1.2.840.113549.1.9.16.3.20": "sha384",
    "1.2.840.113549.1.9.16.3.21": "sha512",
}

# What govsign emits, by (family, hash).
SCHEME_OIDS: dict[tuple[str, str], str] = {
    ("ecdh", "sha256"): "1.3.132.1.11.1",
    ("ecdh", "sha384"): "1.3.132.1.11.2",
    ("ecdh", "sha512"): "1.3.132.1.11.3",
    ("x25519", "sha256"): "1.2.840.113549.1.9.16.3.19",
    ("x25519", "sha384"): "1.2.840.113549.1.9.16.3.20",
    ("x25519", "sha512"): "1.2.840.113549.1.9.16.3.21",
}
