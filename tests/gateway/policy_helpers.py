"""Small builders shared by gateway tests."""

from __future__ import annotations

from govsign.gateway.policy import Envelope


def outbound_envelope(sender: str, *recipients: str) -> Envelope:
    """An envelope as Postfix gives it for mail from an internal client."""
    return Envelope("Q-OUT", sender, recipients, client_address="127.0.0.1")
