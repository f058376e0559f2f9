"""``python -m symsgd``: the ``symsgd`` command (see :mod:`symsgd.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
