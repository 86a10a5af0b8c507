"""MIME framing of S/MIME messages."""
