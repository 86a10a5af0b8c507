"""govsign: signed and encrypted official e-mail (S/MIME).

The public surface::

    import govsign

    key = govsign.load_pkcs12("clerk.p12", password)
    signed = govsign.sign(message_bytes, key)

    trust = govsign.TrustStore.from_pem_file("trust.pem")
    result = govsign.verify(signed, trust, crls=crls)
    result.verdict      # Verdict.VALID, INVALID, INDETERMINATE, UNSIGNED

Everything else lives in the subpackages (keys, pki, cms, smime, report).
"""

from govsign.errors import (
    ConfigurationError,
    DecryptionError,
    EncryptionError,
    GovsignError,
    KeySourceError,
    MalformedMessageError,
    PolicyError,
    SigningError,
    VerificationError,
)
from govsign.keys import load_pem, load_pkcs12, open_key
from govsign.pki.trust import TrustStore
from govsign.pki.validate import RevocationMode
from govsign.result import (
    Coverage,
    Indication,
    SignerResult,
    SubIndication,
    Verdict,
    VerificationResult,
)
from govsign.smime.signing import sign_message as sign
from govsign.smime.verifying import Verifier, verify, verify_or_raise

# isort: split
# Encryption (issue 3): a block of its own, to merge cleanly.
from govsign.cms.enveloped import ContentEncryption, Recipient
from govsign.smime.encryption import (
    DecryptedMessage,
    DecryptionResult,
    decrypt,
    encrypt,
)
from govsign.smime.sign_encrypt import (
    OpenedMessage,
    decrypt_and_verify,
    sign_and_encrypt,
)

__all__ = [
    "ConfigurationError",
    "Coverage",
    "DecryptionError",
    "EncryptionError",
    "GovsignError",
    "Indication",
    "KeySourceError",
    "MalformedMessageError",
    "PolicyError",
    "RevocationMode",
    "SignerResult",
    "SigningError",
    "SubIndication",
    "TrustStore",
    "Verdict",
    "VerificationError",
    "VerificationResult",
    "Verifier",
    "load_pem",
    "load_pkcs12",
    "open_key",
    "sign",
    "verify",
    "verify_or_raise",
    # Encryption (issue 3)
    "ContentEncryption",
    "DecryptedMessage",
    "DecryptionResult",
    "OpenedMessage",
    "Recipient",
    "decrypt",
    "decrypt_and_verify",
    "encrypt",
    "sign_and_encrypt",
]
