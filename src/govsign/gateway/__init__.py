"""The mail gateway: a milter, a pipe filter and a sendmail wrapper.

Inbound, it verifies S/MIME signatures and stamps Authentication-Results
(RFC 8601, RFC 7281), applying a per-sender-domain policy; outbound, it
seals agency mail with the agency key, encrypts to known recipients and
refuses mail marked with a state-secret level.  See docs/gateway.md.
"""

from govsign.gateway.config import (
    Action,
    GatewayConfig,
    SealMode,
    load_config,
)

__all__ = ["Action", "GatewayConfig", "SealMode", "load_config"]
