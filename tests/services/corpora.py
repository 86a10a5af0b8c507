"""Where ../shared/corpora is, from the project or from a git worktree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["shared_dir", "corpus"]

_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """../shared beside the project root, looking further up for a worktree.

    GOVSIGN_SHARED overrides.
    """
    if os.environ.get("GOVSIGN_SHARED"):
        return Path(os.environ["GOVSIGN_SHARED"])
    for parent in _ROOT.parents:
        if (parent / "shared" / "corpora").is_dir():
            return parent / "shared"
    return _ROOT.parent / "shared"


def corpus(name: str) -> Path:
    """A corpus directory; fails (never skips) when it is missing."""
    path = shared_dir() / "corpora" / name
    if not path.is_dir():
        pytest.fail(f"corpus {path} is missing")
    return path
