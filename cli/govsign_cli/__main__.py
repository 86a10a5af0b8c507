"""``python -m govsign_cli``."""

from govsign_cli.main import main

main()
