"""Fixtures shared across the test tree."""

from softhsm import token_world

__all__ = ["token_world"]
