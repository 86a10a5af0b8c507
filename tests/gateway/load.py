"""Drive many messages through Postfix and the milter, and count them.

Used by the load and kill-mid-run tests and by bench/bench_gateway.py.
Senders retry a message on a temporary refusal or a dropped connection,
as any MTA client would, so a message is lost only if the gateway loses
it.  Every loop is bounded in count and time.
"""

from __future__ import annotations

import queue
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.gateway.mta import LOOPBACK, NextHop

__all__ = ["LoadResult", "Outgoing", "peak_rss_kib", "send_all"]


@dataclass(frozen=True)
class Outgoing:
    """One message to send: its envelope, bytes and Message-ID."""

    sender: str
    recipients: tuple[str, ...]
    content: bytes
    message_id: str


@dataclass
class LoadResult:
    """What the senders saw."""

    accepted: int = 0
    temporary: int = 0
    permanent: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def peak_rss_kib(pid: int) -> int:
    """The peak resident set (VmHWM) of process ``pid``, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _sender(
    port: int,
    work: queue.Queue[Outgoing],
    result: LoadResult,
    deadline: float,
) -> None:
    smtp: smtplib.SMTP | None = None
    while time.monotonic() < deadline:
        try:
            item = work.get(timeout=0.5)
        except queue.Empty:
            if result_done(work):
                break
            continue
        try:
            if smtp is None:
                smtp = smtplib.SMTP(LOOPBACK, port, timeout=120)
            smtp.sendmail(item.sender, list(item.recipients), item.content)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                with result.lock:
                    result.temporary += 1
                work.put(item)
                smtp = _reset(smtp)
                time.sleep(0.2)
            else:
                with result.lock:
                    code, text = exc.smtp_code, exc.smtp_error
                    result.permanent.append(
                        f"{item.message_id}: {code} {text!r}"
                    )
        except (OSError, smtplib.SMTPException):
            # Connection refused or dropped: retry, like an MTA would.
            with result.lock:
                result.temporary += 1
            work.put(item)
            smtp = _reset(smtp)
            time.sleep(0.2)
        else:
            with result.lock:
                result.accepted += 1
        finally:
            work.task_done()
    if smtp is not None:
        _reset(smtp)


def result_done(work: queue.Queue[Outgoing]) -> bool:
    """True when no message is waiting to be sent."""
    return work.unfinished_tasks == 0


def _reset(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
    return None


def send_all(
    port: int,
    messages: Sequence[Outgoing],
    *,
    connections: int,
    limit: float,
    during: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    """Send every message over ``connections`` SMTP sessions.

    Returns when all were accepted (250) or refused for good, or after
    ``limit`` seconds.  ``during`` runs in the calling thread while the
    senders work (the kill-mid-run test kills and restarts the milter
    there).
    """
    work: queue.Queue[Outgoing] = queue.Queue()
    for item in messages:
        work.put(item)
    result = LoadResult()
    deadline = time.monotonic() + limit
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=_sender, args=(port, work, result, deadline), daemon=True
        )
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    if during is not None:
        during(result)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    result.seconds = time.monotonic() - start
    return result


def arrival_counts(hop: NextHop, ids: Sequence[str]) -> Counter[str]:
    """How often each Message-ID arrived at the next hop."""
    wanted = {i.encode(): i for i in ids}
    counts: Counter[str] = Counter()
    for item in hop.messages:
        head = item.content.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                key = line.split(b":", 1)[1].strip()
                if key in wanted:
                    counts[wanted[key]] += 1
    return counts


def wait_arrivals(
    hop: NextHop, ids: Sequence[str], limit: float
) -> Counter[str]:
    """Wait (at most ``limit`` s) until every id arrived; return counts."""
    deadline = time.monotonic() + limit
    while True:
        counts = arrival_counts(hop, ids)
        if len(counts) == len(ids) or time.monotonic() > deadline:
            return counts
        time.sleep(0.25)
