"""`python -m pmsync` and the `pmsync` script."""

from __future__ import annotations

import sys


def main() -> None:
    from pmsync.cli import app
    from pmsync.runtime import exit_now

    try:
        app()
    except SystemExit as done:
        code = done.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
        exit_now(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == "__main__":
    main()
