"""Real peers for the gateway's integration tests.

:class:`PostfixInstance` runs Debian's Postfix from a private
config_directory and queue_directory under a temporary folder, listening
on 127.0.0.1 only, logging to a file (``maillog_file``; there is no
syslog here) and relaying everything to :class:`NextHop`, an aiosmtpd
server on 127.0.0.1 that records what arrives.  :class:`MilterProcess`
runs ``govsign milter`` as a separate process, so a test can kill it.

Nothing here talks to any host but 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SENDMAIL = "/usr/sbin/sendmail"  # Postfix's, for local submission
POSTKICK = "/usr/sbin/postkick"
LOOPBACK = "127.0.0.1"


def require_postfix() -> None:
    """Skip (or, under CI=true, fail) when Postfix cannot be run here."""
    missing = [
        p for p in (POSTFIX, POSTCONF, SENDMAIL) if not os.path.exists(p)
    ]
    if not missing and os.geteuid() != 0:
        missing = ["root (Postfix's master must start as root)"]
    if not missing:
        return
    reason = "Postfix integration tests need " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: not skipping)")
    pytest.skip(reason)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], limit: float, what: str) -> None:
    """Poll ``condition`` until true; fail the test after ``limit`` s."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {limit:.0f} s")
        time.sleep(0.1)


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); its state letter says it is gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class Arrived:
    """A message as the next hop received it."""

    sender: str
    recipients: tuple[str, ...]
    content: bytes


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Arrived] = []

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.messages.append(
                Arrived(
                    str(envelope.mail_from),
                    tuple(envelope.rcpt_tos),
                    bytes(content),
                )
            )
        return "250 OK"


class NextHop:
    """An aiosmtpd server on 127.0.0.1 that records every message."""

    def __init__(self) -> None:
        self.port = free_port()
        self._recorder = _Recorder()
        self._controller = Controller(
            self._recorder,
            hostname=LOOPBACK,
            port=self.port,
            data_size_limit=64 * 1024 * 1024,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Arrived]:
        with self._recorder.lock:
            return list(self._recorder.messages)

    def clear(self) -> None:
        with self._recorder.lock:
            self._recorder.messages.clear()


_MASTER_CF = """\
{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class PostfixInstance:
    """Debian's Postfix, configured by the test, on 127.0.0.1 only."""

    def __init__(
        self,
        *,
        milter_port: int,
        next_hop_port: int,
        hostname: str = "mx.snv.demo.gov.vn",
        mynetworks: str = "127.0.0.0/8",
        smtpd_processes: int = 10,
        extra: dict[str, str] | None = None,
    ) -> None:
        # Postfix's daemons run as the postfix user and must reach their
        # folders: pytest's tmp_path sits below a 0700 folder, so use a
        # folder of our own, removed again by stop().
        root = Path(tempfile.mkdtemp(prefix="govsign-postfix-"))
        root.chmod(0o755)
        self.root = root
        self.port = free_port()
        self.config_dir = root / "etc"
        self.queue_dir = root / "spool"
        self.data_dir = root / "data"
        self.log_file = root / "maillog"
        for folder in (self.config_dir, self.queue_dir, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data_dir, "postfix", "postfix")
        milter = f"inet:{LOOPBACK}:{milter_port}"
        settings = {
            "compatibility_level": "3.7",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(root),
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": hostname,
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": mynetworks,
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "relayhost": f"[{LOOPBACK}]:{next_hop_port}",
            "smtp_host_lookup": "native",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "biff": "no",
            "smtputf8_enable": "no",
            "default_process_limit": str(smtpd_processes),
            "message_size_limit": str(64 * 1024 * 1024),
            "smtpd_milters": milter,
            "non_smtpd_milters": milter,
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "milter_connect_timeout": "5s",
            "milter_content_timeout": "120s",
            # Retry soon, so a test does not wait long after a deferral.
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "smtp_connect_timeout": "5s",
            "in_flow_delay": "0s",
            "default_destination_concurrency_limit": "8",
        }
        settings.update(extra or {})
        main_cf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        (self.config_dir / "main.cf").write_text(main_cf, encoding="utf-8")
        (self.config_dir / "master.cf").write_text(
            _MASTER_CF.format(port=f"{LOOPBACK}:{self.port}"),
            encoding="utf-8",
        )

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        """Start the master and wait until smtpd answers."""
        done = self._postfix("start")
        if done.returncode != 0:
            pytest.fail(
                f"postfix start failed: {done.stderr}\n{self.log_text()}"
            )
        wait_for(lambda: port_open(self.port), 30, "Postfix to listen")

    def stop(self) -> None:
        """Stop the master and its children."""
        pid_file = self.queue_dir / "pid" / "master.pid"
        try:
            master = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            master = None
        self._postfix("stop")
        # "postfix stop" returns before the master has exited; the pid
        # file stays behind, so watch the process itself.
        deadline = time.monotonic() + 15
        while master and _alive(master) and time.monotonic() < deadline:
            time.sleep(0.1)

    def remove(self) -> None:
        """Delete the instance's folders (after stop)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def flush(self) -> None:
        """Ask Postfix to retry deferred mail now."""
        self._postfix("flush")

    def wake_pickup(self) -> None:
        """Make pickup scan the maildrop now, not at its next wakeup."""
        subprocess.run(
            [POSTKICK, "-c", str(self.config_dir), "public", "pickup", "W"],
            capture_output=True,
            timeout=30,
            check=False,
        )

    def log_text(self) -> str:
        """The maillog so far (for failure messages)."""
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def queue_files(self, queue: str) -> list[Path]:
        """Queue files in ``queue`` (hold, deferred, active, incoming)."""
        folder = self.queue_dir / queue
        if not folder.exists():
            return []
        return [p for p in folder.rglob("*") if p.is_file()]

    def sendmail(self, message: bytes, sender: str) -> None:
        """Submit locally with Postfix's sendmail (non_smtpd_milters)."""
        done = subprocess.run(
            [SENDMAIL, "-C", str(self.config_dir), "-f", sender, "-t", "-i"],
            input=message.replace(b"\r\n", b"\n"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def smtp(self) -> smtplib.SMTP:
        """An SMTP client connected to this Postfix."""
        return smtplib.SMTP(LOOPBACK, self.port, timeout=120)


class MilterProcess:
    """``govsign milter`` in its own process, killable by pid."""

    def __init__(self, config: Path, port: int, log_file: Path) -> None:
        self.config = config
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "govsign_cli",
                "milter",
                "--config",
                str(self.config),
                "--listen",
                f"inet:{self.port}@{LOOPBACK}",
                "--log-file",
                str(self.log_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read() if self.process.stderr else b""
                )
                pytest.fail(f"govsign milter exited: {err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail("govsign milter did not start listening")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: the hardest way to die, mid-message."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log_lines(self) -> list[str]:
        try:
            text = self.log_file.read_text(encoding="utf-8")
        except OSError:
            return []
        return text.splitlines()
