"""``python -m tests.support.upstream``: run the fake upstream in the foreground (see ``cli.main``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
