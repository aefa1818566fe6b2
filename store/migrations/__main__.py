"""`python -m store.migrations ARGS`: Alembic's own command line over pmsync's store
(PMSYNC_DATABASE_URL), without an alembic.ini."""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from store.migrations import alembic_config


def main(argv: list[str] | None = None) -> None:
    cli = CommandLine(prog="python -m store.migrations")
    options = cli.parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    config = alembic_config()
    config.cmd_opts = options
    cli.run_cmd(config, options)


if __name__ == "__main__":
    main()
