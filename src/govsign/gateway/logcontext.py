"""Which message a log line is about, for lines the gateway does not write.

The gateway's own lines start with the queue id.  Lines the rest of
govsign logs while a message is handled (signing, path validation) get
it from :class:`QueueIdFilter`, which the milter's log handler carries,
so that every line about a message starts with its queue id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QueueIdFilter", "message_context"]

_current = threading.local()


@contextmanager
def message_context(queue_id: str) -> Iterator[None]:
    """Within the block, this thread's log lines concern ``queue_id``."""
    _current.queue_id = queue_id
    try:
        yield
    finally:
        _current.queue_id = None


class QueueIdFilter(logging.Filter):
    """Prefix non-gateway log records with the current queue id."""

    def filter(self, record: logging.LogRecord) -> bool:
        ident = getattr(_current, "queue_id", None)
        if ident and not record.name.startswith("govsign.gateway"):
            record.msg = f"{ident}: {record.msg}"
        return True
