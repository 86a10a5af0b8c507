"""Benchmark govsign sign/verify beside ``openssl cms`` on the same messages.

Run: ``python bench/bench_sign_verify.py [--quick] [--profile]``

Two messages, both from the demo clerk: a 1 KB Vietnamese letter and a
10 MB one (a letter with a base64 PDF-like attachment).  govsign runs in
process, with one :class:`Verifier` reused across messages as a gateway
would (demo root as the only anchor, both CRLs, revocation required);
``openssl cms`` runs as a process per message, as a shell script or a
milter calling it would, with the same anchor and CRLs
(``-crl_check_all``).  Memory: tracemalloc's peak during one govsign
verify of the 10 MB message, and the peak RSS (ru_maxrss) of a child
process doing one verify, for govsign and for openssl, set against the
message size.

The aims (from issue 2) are reported, not asserted: 1 KB verify >= 1,000
per second per core; 10 MB verify <= 0.5x openssl's time; peak memory
< 1.5x the message size.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import email.policy
import email.utils
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from govsign.pki.demo import AGENCY_DOMAIN, DemoPKI, build_demo_pki
from govsign.pki.trust import TrustStore
from govsign.smime.signing import sign_message
from govsign.smime.verifying import Verifier

SENDER = f"an.nv@{AGENCY_DOMAIN}"
PEM = serialization.Encoding.PEM

_BODY_1K = (
    "Kính gửi: Sở Tài chính tỉnh Demo\n\n"
    "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về chuyển đổi số, Sở Nội "
    "vụ đề nghị Quý Sở phối hợp triển khai việc gửi, nhận văn bản điện tử "
    "có ký số qua thư điện tử công vụ từ ngày 01/01/2027.\n\n"
    "Phụ lục kèm theo liệt kê các đầu mối liên hệ của từng đơn vị.\n\n"
    "Trân trọng./.\n\nGIÁM ĐỐC\nNguyễn Văn An\n"
)


def _letter(attachment: bytes | None, size: int | None = None) -> bytes:
    """The letter; with ``size``, its body cut so the whole fits in it."""
    body = _BODY_1K
    while True:
        message = _compose(body, attachment)
        if size is None or len(message) <= size or not body:
            return message
        body = body[:-8]


def _compose(body: str, attachment: bytes | None) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Nguyễn Văn An <{SENDER}>"
    msg["To"] = "Trần Thị Bình <binh.tt@stc.demo.gov.vn>"
    msg["Subject"] = "Công văn số 15/SNV-VP về việc triển khai chữ ký số"
    msg["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = email.utils.make_msgid(domain=AGENCY_DOMAIN)
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    if attachment is not None:
        msg.add_attachment(
            attachment,
            maintype="application",
            subtype="pdf",
            filename="Phụ lục 01.pdf",
        )
    return msg.as_bytes()


def pdf_like(size: int) -> bytes:
    """Bytes that look like a PDF: a header, streams of noise, a trailer."""
    noise = os.urandom(size - 200)
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length "
    head += str(len(noise)).encode() + b" >>\nstream\n"
    return head + noise + b"\nendstream\nendobj\n%%EOF\n"


@dataclass
class Timing:
    """Per-operation seconds of one contender on one message.

    ``samples`` are wall-clock times; ``cpu`` is CPU seconds (user +
    system) per operation, which a busy shared machine disturbs less.
    """

    samples: list[float]
    cpu: float

    @property
    def per_op(self) -> float:
        return statistics.median(self.samples)

    @property
    def ops(self) -> float:
        return 1.0 / self.per_op

    @property
    def cpu_ops(self) -> float:
        return 1.0 / self.cpu


def time_in_process(fn: Callable[[], object], runs: int) -> Timing:
    fn()  # warm-up: imports, caches, the first path validation
    samples = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(samples, (time.process_time() - cpu_start) / runs)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(argv: list[str]) -> tuple[float, int]:
    """Run a process; return (wall seconds, its peak RSS in bytes).

    The peak comes from GNU time (``%M``).  ru_maxrss of a direct child
    would be wrong: Linux carries the parent's high-water mark across
    fork and exec, so every child would look as big as this benchmark.
    """
    wrapped = ["/usr/bin/time", "-f", "%M", *argv]
    start = time.perf_counter()
    done = subprocess.run(
        wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr[-500:]!r}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return elapsed, peak_kib * 1024


def time_processes(argv: list[str], runs: int) -> tuple[Timing, int]:
    """Time ``runs`` plain runs; measure peak RSS on one more, wrapped."""
    subprocess.run(argv, check=True, capture_output=True)  # warm-up
    samples = []
    cpu_start = _children_cpu()
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    cpu = (_children_cpu() - cpu_start) / runs
    _, peak = run_child(argv)
    return Timing(samples, cpu), peak


@dataclass
class Setup:
    pki: DemoPKI
    directory: Path
    key_pem: Path
    cert_pem: Path
    chain_pem: Path
    cafile: Path  # root + CRLs, as openssl cms wants them


def setup(directory: Path) -> Setup:
    pki = build_demo_pki(directory / "pki", b"bench-password")
    key_pem = directory / "clerk.key"
    key_pem.write_bytes(
        pki.clerk.private_key.private_bytes(
            PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_pem.chmod(0o600)
    cert_pem = directory / "clerk.pem"
    cert_pem.write_bytes(pki.clerk.certificate.public_bytes(PEM))
    chain_pem = directory / "ministry.pem"
    chain_pem.write_bytes(pki.ministry.certificate.public_bytes(PEM))
    cafile = directory / "trust-and-crls.pem"
    cafile.write_bytes(
        pki.trust_file.read_bytes()
        + b"".join(crl.public_bytes(PEM) for crl in pki.crls)
    )
    return Setup(pki, directory, key_pem, cert_pem, chain_pem, cafile)


_CHILD_VERIFY = """
import sys
from govsign.pki.trust import TrustStore, load_crls
from govsign.smime.verifying import Verifier

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

verifier = Verifier(TrustStore.from_pem_file(sys.argv[2]),
                    crls=load_crls(sys.argv[3:]))
message = open(sys.argv[1], "rb").read()
before = hwm()
result = verifier.verify(message)
assert result.valid, result.problems
print(before, hwm(), file=sys.stderr)
"""


def child_govsign_verify(s: Setup, message: Path) -> tuple[int, int, int]:
    """One verify in a fresh process: (peak RSS, high-water mark with the
    message loaded but not verified, high-water mark after verify)."""
    argv = [
        "/usr/bin/time",
        "-f",
        "%M",
        sys.executable,
        "-c",
        _CHILD_VERIFY,
        str(message),
        str(s.pki.trust_file),
        *map(str, s.pki.crl_files),
    ]
    done = subprocess.run(argv, capture_output=True, check=True)
    lines = done.stderr.decode().strip().splitlines()
    before, after = map(int, lines[-2].split())
    return int(lines[-1]) * 1024, before, after


def tracemalloc_peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def profile(label: str, fn: Callable[[], object], runs: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(runs):
        fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(18)
    return f"--- cProfile, {label}, {runs} runs (cumulative) ---\n" + (
        out.getvalue()
    )


def mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile of verify"
    )
    args = parser.parse_args()
    small_runs, big_runs, proc_small = (
        (200, 3, 20) if args.quick else (2000, 5, 60)
    )

    with tempfile.TemporaryDirectory(prefix="govsign-bench-") as tmp:
        s = setup(Path(tmp))
        clerk = s.pki.clerk
        verifier = Verifier(
            TrustStore.from_pem_file(s.pki.trust_file), crls=s.pki.crls
        )
        messages = {
            "1 KB": _letter(None, size=1024),
            "10 MB": _letter(pdf_like(7_600_000)),
        }
        rows = []
        for label, message in messages.items():
            runs = small_runs if label == "1 KB" else big_runs
            pruns = proc_small if label == "1 KB" else big_runs
            signed = sign_message(message, clerk)
            assert verifier.verify(signed).valid
            plain_path = s.directory / f"plain-{label[:-3]}.eml"
            plain_path.write_bytes(message)
            signed_path = s.directory / f"signed-{label[:-3]}.eml"
            signed_path.write_bytes(signed)

            g_sign = time_in_process(
                lambda m=message: sign_message(m, clerk), max(runs // 4, 3)
            )
            g_verify = time_in_process(
                lambda m=signed: verifier.verify(m), runs
            )
            o_sign, _ = time_processes(
                [
                    "openssl",
                    "cms",
                    "-sign",
                    "-in",
                    str(plain_path),
                    "-signer",
                    str(s.cert_pem),
                    "-inkey",
                    str(s.key_pem),
                    "-certfile",
                    str(s.chain_pem),
                    "-md",
                    "sha256",
                    "-out",
                    os.devnull,
                ],
                pruns,
            )
            o_verify, o_rss = time_processes(
                [
                    "openssl",
                    "cms",
                    "-verify",
                    "-in",
                    str(signed_path),
                    "-CAfile",
                    str(s.cafile),
                    "-crl_check_all",
                    "-purpose",
                    "smimesign",
                    "-out",
                    os.devnull,
                ],
                pruns,
            )
            rows.append(
                (label, len(message), len(signed), "sign", g_sign, o_sign)
            )
            rows.append(
                (
                    label,
                    len(message),
                    len(signed),
                    "verify",
                    g_verify,
                    o_verify,
                )
            )
            if label == "10 MB":
                big = (signed, signed_path, o_rss)

        print(
            f"govsign bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
            f"Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, "
            + subprocess.run(
                ["openssl", "version"], capture_output=True, text=True
            ).stdout.strip()
        )
        sizes = ", ".join(
            f"{label}: {plain:,} bytes, signed {signed:,}"
            for label, plain, signed, op, _, _ in rows
            if op == "verify"
        )
        print(f"messages: {sizes}")
        print(
            "govsign: in process, one Verifier reused (chain + CRLs); "
            "openssl: one process per message (chain + CRLs)"
        )
        print()
        header = (
            f"{'':<16}{'--- wall, median ---':^38}"
            f"{'--- CPU (user+sys) ---':^38}\n"
            f"{'message':<8}{'op':<8}"
            + f"{'govsign ms':>11}{'openssl ms':>11}{'ratio':>8}{'g ops/s':>8}"
            * 2
        )
        print(header)
        print("-" * 92)
        for label, _, _, op, g, o in rows:
            print(
                f"{label:<8}{op:<8}"
                f"{g.per_op * 1e3:>11.2f}{o.per_op * 1e3:>11.2f}"
                f"{g.per_op / o.per_op:>7.2f}x{g.ops:>8.0f}"
                f"{g.cpu * 1e3:>11.2f}{o.cpu * 1e3:>11.2f}"
                f"{g.cpu / o.cpu:>7.2f}x{g.cpu_ops:>8.0f}"
            )
        print(
            "ratio = govsign / openssl (below 1: govsign faster); "
            "g ops/s = govsign operations per second on one core"
        )
        print()

        signed, signed_path, o_rss = big
        extra = tracemalloc_peak(lambda: verifier.verify(signed))
        child_peak, before, after = child_govsign_verify(s, signed_path)
        size = len(signed)
        added = after - before
        print(f"memory, verify of the 10 MB message ({mb(size)} signed):")
        print(
            f"  govsign, in process: tracemalloc peak during verify "
            f"{mb(extra)} = {extra / size:.3f}x the message"
        )
        print(
            f"  govsign, fresh process: peak RSS {mb(child_peak)} "
            f"= {child_peak / size:.2f}x the message; with the message "
            f"read, before verify: {mb(before)}; verify added "
            f"{mb(added)} = {added / size:.2f}x"
        )
        print(
            f"  openssl cms -verify process: peak RSS {mb(o_rss)} "
            f"= {o_rss / size:.2f}x the message"
        )
        print()

        small_verify = rows[1][4]
        big_verify, big_openssl = rows[3][4], rows[3][5]
        print("aims (reported, not asserted):")
        print(
            f"  1 KB verify >= 1,000/s per core: "
            f"{small_verify.cpu_ops:,.0f}/s per CPU-second "
            f"({small_verify.ops:,.0f}/s wall) -> "
            f"{'met' if small_verify.cpu_ops >= 1000 else 'MISSED'}"
        )
        ratio = big_verify.per_op / big_openssl.per_op
        cpu_ratio = big_verify.cpu / big_openssl.cpu
        print(
            f"  10 MB verify <= 0.5x openssl: {ratio:.2f}x wall, "
            f"{cpu_ratio:.2f}x CPU -> "
            f"{'met' if max(ratio, cpu_ratio) <= 0.5 else 'MISSED'}"
        )
        verdict = "met" if added / size < 1.5 else "MISSED"
        print(
            f"  peak memory < 1.5x message (what verify adds): "
            f"{added / size:.2f}x -> {verdict}; a whole process, "
            f"interpreter and libraries included: "
            f"{child_peak / size:.2f}x (openssl {o_rss / size:.2f}x)"
        )

        if args.profile:
            print()
            small = sign_message(messages["1 KB"], clerk)
            print(profile("verify 1 KB", lambda: verifier.verify(small), 500))
            print(profile("verify 10 MB", lambda: verifier.verify(signed), 3))


if __name__ == "__main__":
    main()
