"""``python -m mt.bench quality|speed|testsets …``: the bench command without the ``kakehashi`` entry point."""

import sys

from mt.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
