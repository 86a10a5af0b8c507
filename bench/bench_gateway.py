"""Benchmark the mail gateway: messages per second and milter memory.

Starts Debian's Postfix on 127.0.0.1 (private config and queue), the
``govsign milter`` process and an aiosmtpd next hop, sends N messages
(default 2,000: half signed, 40% unsigned, 10% outbound to be sealed,
half of which also encrypted)
over C concurrent SMTP connections (default 8), waits until each has
arrived, and prints the rate and the milter's peak RSS.  Figures are
printed, never asserted.  Needs root (Postfix's master) and postfix.

    python bench/bench_gateway.py [--messages N] [--connections C]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gateway.conftest import _build, write_config  # noqa: E402
from tests.gateway.load import (  # noqa: E402
    peak_rss_kib,
    send_all,
    wait_arrivals,
)
from tests.gateway.mta import (  # noqa: E402
    MilterProcess,
    NextHop,
    PostfixInstance,
    free_port,
)
from tests.gateway.test_load import make_messages  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govsign-bench-"))
    material = _build(work / "pki")
    messages = make_messages(material, args.messages)
    ids = [m.message_id for m in messages]

    hop = NextHop()
    hop.start()
    port = free_port()
    config = write_config(
        material.directory, material.pki, listen=f"inet:{port}@127.0.0.1"
    )
    milter = MilterProcess(config, port, work / "milter.log")
    milter.start()
    idle_rss = peak_rss_kib(milter.pid)
    postfix = PostfixInstance(
        milter_port=port, next_hop_port=hop.port, smtpd_processes=20
    )
    try:
        postfix.start()
        start = time.monotonic()
        result = send_all(
            postfix.port,
            messages,
            connections=args.connections,
            limit=1200,
        )
        accepted_at = time.monotonic() - start
        counts = wait_arrivals(hop, ids, limit=600)
        delivered_at = time.monotonic() - start
        peak = peak_rss_kib(milter.pid)
    finally:
        postfix.stop()
        milter.stop()
        hop.stop()
        postfix.remove()
        shutil.rmtree(work, ignore_errors=True)

    once = sum(1 for c in counts.values() if c == 1)
    print(f"messages:            {args.messages}")
    print(f"connections:         {args.connections}")
    print(
        f"accepted by Postfix: {result.accepted} in {accepted_at:.1f} s "
        f"({result.accepted / accepted_at:.1f} msg/s through the milter)"
    )
    print(
        f"arrived exactly once: {once} in {delivered_at:.1f} s "
        f"({once / delivered_at:.1f} msg/s end to end)"
    )
    print(
        f"temporary refusals:  {result.temporary}; "
        f"permanent: {len(result.permanent)}"
    )
    print(
        f"milter peak RSS:     {peak / 1024:.1f} MiB "
        f"(idle {idle_rss / 1024:.1f} MiB)"
    )
    return 0 if once == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
