"""``python -m preserve.cli``: the same as the ``preserve`` command."""

from preserve.cli import main

main()
