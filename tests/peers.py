"""Find the real peers interop tests run (openssl, NSS tools, gpgsm).

A test that needs a peer must never pass by not running: on CI (``CI``
set to ``true``) a missing tool fails the test; elsewhere it is skipped
with the reason, so a developer without NSS can still run the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["require_tool", "run_tool", "ToolFailed"]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_tool(name: str, *, package: str) -> str:
    """Return the path of ``name``; fail on CI, else skip, if missing."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} not found (Debian package {package})"
    if _on_ci():
        pytest.fail(f"{reason}; CI must have every interop peer")
    pytest.skip(reason)


class ToolFailed(AssertionError):
    """A peer command exited non-zero; carries its output for the report."""

    def __init__(self, argv: Sequence[str], rc: int, out: bytes, err: bytes):
        super().__init__(
            f"{' '.join(argv)} exited {rc}\n"
            f"stdout: {out[-2000:].decode('utf-8', 'replace')}\n"
            f"stderr: {err[-2000:].decode('utf-8', 'replace')}"
        )
        self.rc = rc
        self.stdout = out
        self.stderr = err


def run_tool(
    argv: Sequence[str | Path],
    *,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a peer command with a timeout; raise ToolFailed if ``check``."""
    args = [str(a) for a in argv]
    done = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env=env,
    )
    if check and done.returncode != 0:
        raise ToolFailed(args, done.returncode, done.stdout, done.stderr)
    return done
