"""Load and failure: 2,000 messages, and a milter killed mid-run.

Both are marked slow; they run in the full suite.  Nothing here asserts
a time: figures are printed (run with -s to see them), and the same
driver backs bench/bench_gateway.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.gateway.conftest import (
    AGENCY,
    PEER,
    Material,
    plain_message,
    signed_by,
    write_config,
)
from tests.gateway.load import (
    LoadResult,
    Outgoing,
    arrival_counts,
    peak_rss_kib,
    send_all,
    wait_arrivals,
)
from tests.gateway.mta import (
    MilterProcess,
    NextHop,
    PostfixInstance,
    free_port,
    require_postfix,
    wait_for,
)


@dataclass
class LoadStack:
    postfix: PostfixInstance
    milter: MilterProcess
    hop: NextHop


@pytest.fixture
def load_stack(material: Material) -> Iterator[LoadStack]:
    require_postfix()
    hop = NextHop()
    hop.start()
    port = free_port()
    config = write_config(
        material.directory,
        material.pki,
        listen=f"inet:{port}@127.0.0.1",
        name=f"load-{uuid.uuid4().hex[:8]}.toml",
    )
    milter = MilterProcess(
        config, port, material.directory / f"{config.stem}.log"
    )
    milter.start()
    postfix = PostfixInstance(
        milter_port=port, next_hop_port=hop.port, smtpd_processes=20
    )
    try:
        postfix.start()
        yield LoadStack(postfix, milter, hop)
    finally:
        postfix.stop()
        milter.stop()
        hop.stop()
        postfix.remove()


def make_messages(material: Material, count: int) -> list[Outgoing]:
    """Half signed inbound, 40% unsigned inbound, 10% outbound.

    The outbound tenth is sealed, and half of it encrypted as well.
    """
    messages = []
    for i in range(count):
        mid = f"<load-{i}-{uuid.uuid4().hex[:12]}@test.demo.gov.vn>"
        kind = i % 10
        if kind < 5:
            content = signed_by(material.pki.recipient, message_id=mid)
            sender, rcpt = f"binh.tt@{PEER}", f"an.nv@{AGENCY}"
        elif kind < 9:
            content = plain_message(message_id=mid)
            sender, rcpt = f"binh.tt@{PEER}", f"an.nv@{AGENCY}"
        else:
            # Outbound: sealed; every other one also encrypted (the
            # directory knows binh.tt's certificate).
            known = (i // 10) % 2 == 0
            rcpt = f"binh.tt@{PEER}" if known else "vanphong@khac.demo.gov.vn"
            sender = f"an.nv@{AGENCY}"
            content = plain_message(sender=sender, to=rcpt, message_id=mid)
        messages.append(Outgoing(sender, (rcpt,), content, mid))
    return messages


def _stamped(content: bytes) -> bool:
    head = content.split(b"\r\n\r\n", 1)[0].lower()
    if head.startswith(f"authentication-results: mx.{AGENCY};".encode()):
        return True
    # Outbound: sealed by the agency (and maybe encrypted) instead.
    return f"sender: vanthu@{AGENCY}".encode() in head and (
        b"multipart/signed" in head or b"enveloped-data" in head
    )


def _report(label: str, result: LoadResult, count: int, rss: int) -> None:
    rate = count / result.seconds if result.seconds else float("nan")
    print(
        f"\n{label}: {count} messages in {result.seconds:.1f} s "
        f"({rate:.1f} msg/s), accepted={result.accepted} "
        f"temporary-refusals={result.temporary}, "
        f"milter peak RSS {rss / 1024:.1f} MiB"
    )


@pytest.mark.slow
def test_2000_messages_over_8_connections_arrive_once_stamped(
    load_stack: LoadStack, material: Material
) -> None:
    messages = make_messages(material, 2000)
    ids = [m.message_id for m in messages]
    result = send_all(
        load_stack.postfix.port, messages, connections=8, limit=900
    )
    assert result.permanent == []
    assert result.accepted == 2000
    counts = wait_arrivals(load_stack.hop, ids, limit=300)
    assert len(counts) == 2000, f"{2000 - len(counts)} never arrived"
    assert set(counts.values()) == {1}, "some arrived more than once"
    unstamped = [m for m in load_stack.hop.messages if not _stamped(m.content)]
    assert unstamped == []
    _report("load", result, 2000, peak_rss_kib(load_stack.milter.pid))


@pytest.mark.slow
def test_milter_killed_mid_run_loses_nothing(
    load_stack: LoadStack, material: Material
) -> None:
    messages = make_messages(material, 300)
    ids = [m.message_id for m in messages]
    local = [
        Outgoing(
            f"an.nv@{AGENCY}",
            ("vanphong@khac.demo.gov.vn",),
            plain_message(
                sender=f"an.nv@{AGENCY}",
                to="vanphong@khac.demo.gov.vn",
                message_id=mid,
            ),
            mid,
        )
        for mid in (f"<local-{i}@test.demo.gov.vn>" for i in range(5))
    ]
    local_ids = [m.message_id for m in local]
    hop = load_stack.hop
    milter = load_stack.milter
    seen: dict[str, int] = {}

    def kill_and_restart(result: LoadResult) -> None:
        wait_for(lambda: len(hop.messages) >= 60, 120, "60 arrivals")
        milter.kill()
        seen["arrived_at_kill"] = len(hop.messages)
        # While the milter is dead Postfix answers tempfail (4xx) and
        # the senders keep retrying; wait until that has been seen.
        wait_for(lambda: result.temporary >= 10, 60, "tempfail while down")
        # Mail submitted locally meanwhile stays in Postfix's queue.
        for item in local:
            load_stack.postfix.sendmail(item.content, item.sender)
        time.sleep(3)  # a pickup attempt or two, with the milter down
        seen["local_early"] = len(arrival_counts(hop, local_ids))
        seen["queued"] = len(load_stack.postfix.queue_files("maildrop"))
        milter.start()
        # Spare the test pickup's 60 s wakeup; Postfix would get there.
        load_stack.postfix.wake_pickup()

    result = send_all(
        load_stack.postfix.port,
        messages,
        connections=4,
        limit=600,
        during=kill_and_restart,
    )
    assert result.permanent == []
    assert result.temporary >= 10
    # Nothing submitted locally got past the dead milter; all of it was
    # still queued in Postfix and arrives after the restart.
    assert seen["local_early"] == 0
    assert seen["queued"] >= 1
    counts = wait_arrivals(hop, ids + local_ids, limit=300)
    missing = [i for i in ids + local_ids if i not in counts]
    assert missing == [], f"{len(missing)} lost"
    assert set(counts.values()) == {1}
    assert sum(1 for m in hop.messages if not _stamped(m.content)) == 0
    assert arrival_counts(hop, ids + local_ids) == counts
    # Postfix itself says why it refused while the milter was down.
    log = load_stack.postfix.log_text()
    assert "milter" in log and "451 4.7.1 Service unavailable" in log
    print(
        f"\nkill: arrived before kill {seen['arrived_at_kill']}, "
        f"temporary refusals {result.temporary}, {seen['queued']} local "
        f"submissions queued while down, all {len(ids) + len(local)} "
        f"arrived once after restart in {result.seconds:.1f} s"
    )
