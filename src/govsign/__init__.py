"""govsign: signed and encrypted official e-mail (S/MIME)."""
