"""The exceptions govsign raises.

Every error derives from :class:`GovsignError`, so a caller can catch one
type.  Branches say which stage failed; fields carry the details a program
needs, and the message is written for a person.
"""

from __future__ import annotations

__all__ = [
    "GovsignError",
    "ConfigurationError",
    "KeySourceError",
    "MalformedMessageError",
    "SigningError",
    "VerificationError",
    "EncryptionError",
    "DecryptionError",
    "PolicyError",
]


class GovsignError(Exception):
    """Base of every error govsign raises on purpose."""


class ConfigurationError(GovsignError):
    """A setting, trust store or argument is missing or unusable."""


class KeySourceError(GovsignError):
    """A key or certificate could not be loaded (file, password, token)."""


class MalformedMessageError(GovsignError):
    """The input is not a well-formed message or CMS structure.

    ``part`` names the MIME part (``"1.2"``) or CMS layer concerned, when
    known.
    """

    def __init__(self, message: str, *, part: str | None = None) -> None:
        super().__init__(message)
        self.part = part


class SigningError(GovsignError):
    """A message could not be signed."""


class VerificationError(GovsignError):
    """Raised by the strict verification helpers when a message is not valid.

    ``result`` holds the full verification result.
    """

    def __init__(self, message: str, *, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class EncryptionError(GovsignError):
    """A message could not be encrypted."""


class DecryptionError(GovsignError):
    """A message could not be decrypted.

    The message is deliberately the same for a wrong key, bad padding and
    a failed integrity check, so that it cannot serve as an oracle.
    """


class PolicyError(GovsignError):
    """A message breaks an agency policy (for example, it is classified)."""
