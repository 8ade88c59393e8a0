"""``python -m jongler``: the ``jongler`` command."""

from ._cli import main

main()
