"""The ``portal`` command: database, demo data and serving; built to grow one subcommand at a time."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from portal.config import PROJECT_ROOT, get_settings

DEFAULT_PORT = 3000


def _migrate(_args: argparse.Namespace) -> int:
    from portal.db.migrations import upgrade

    upgrade()
    print(f"Database is up to date: {get_settings().database_url}")
    return 0


class CommandFailed(Exception):
    """A subcommand cannot go on; the message says why and what to do."""


def _require_current_schema() -> None:
    from portal.services.status import system_status

    status = system_status()
    if not status.healthy:
        raise CommandFailed(f"The database is not ready ({status.database}).")


def _print_accounts() -> None:
    from portal.services.demo import DEMO_PASSWORD, seed_demo

    _require_current_schema()
    accounts = seed_demo()
    print(f"Demo sign-in accounts (password for all: {DEMO_PASSWORD}):")
    for account in accounts:
        print(f"  {account.email:<22} {account.role}")


def _seed_demo(_args: argparse.Namespace) -> int:
    _print_accounts()
    return 0


def _run(args: argparse.Namespace) -> int:
    from portal.db.migrations import upgrade

    upgrade()
    _print_accounts()
    print(f"\nPortal starting in production mode at http://localhost:{args.port}/ (first start builds the UI).\n")
    sys.stdout.flush()
    reflex = os.path.join(os.path.dirname(sys.executable), "reflex")
    os.chdir(PROJECT_ROOT)
    os.execv(
        reflex, [reflex, "run", "--env", "prod", "--frontend-port", str(args.port), "--backend-port", str(args.port)]
    )


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "migrate": ("apply the database migrations", _migrate),
    "seed-demo": ("add the demo tiers, customers and sign-in accounts (idempotent)", _seed_demo),
    "run": ("migrate, seed the demo data and serve the portal in production mode", _run),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="portal", description="Portal: usage-based billing and customer portal.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _handler) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name == "run":
            command.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on (default 3000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except CommandFailed as exc:
        print(f"portal {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
