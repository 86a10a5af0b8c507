"""govsign: signed and encrypted official e-mail (S/MIME)."""

# Encryption (issue 3): kept in a block of its own for clean merges.
from govsign.smime.encryption import decrypt, encrypt  # noqa: E402

__all__ = ["decrypt", "encrypt"]
