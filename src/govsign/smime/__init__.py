"""MIME framing of S/MIME: canonical form, signed forms, coverage."""
