"""The ``portal`` command: database, demo data, API keys and serving; built to grow one subcommand at a time.

Each subcommand is a :class:`Command` in :data:`COMMANDS`: its help, what it
does, and the arguments it takes. Imports of the heavier modules happen
inside the handlers so that ``portal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from portal import bench
from portal.config import PROJECT_ROOT, get_settings

DEFAULT_PORT = 3000


class CommandFailed(Exception):
    """A subcommand cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Command:
    """One subcommand: what it is for, how it runs, and which arguments it takes."""

    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda _parser: None


def _migrate(_args: argparse.Namespace) -> int:
    from portal.db.migrations import upgrade

    upgrade()
    print(f"Database is up to date: {get_settings().database_url}")
    return 0


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


def prepare_to_serve() -> None:
    """Migrate the database; outside production mode (``PORTAL_PRODUCTION``) also add the demo data and print its
    sign-in accounts. A production installation never gets the demo accounts, whose password is public."""
    from portal.db.migrations import upgrade

    upgrade()
    if get_settings().production:
        _require_current_schema()
    else:
        _print_accounts()


def _run(args: argparse.Namespace) -> int:
    prepare_to_serve()
    print(f"\nPortal starting in production mode at http://localhost:{args.port}/ (first start builds the UI).\n")
    sys.stdout.flush()
    reflex = os.path.join(os.path.dirname(sys.executable), "reflex")
    os.chdir(PROJECT_ROOT)
    os.execv(
        reflex, [reflex, "run", "--env", "prod", "--frontend-port", str(args.port), "--backend-port", str(args.port)]
    )


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on (default 3000)")


def _api_key(args: argparse.Namespace) -> int:
    from portal.services import api_keys
    from portal.services.errors import ServiceError
    from portal.services.identity import operator_identity
    from portal.services.ingest import directory

    _require_current_schema()
    operator = operator_identity()
    try:
        if args.action == "create":
            customer_id = None
            if args.customer:
                customer_id = directory().resolve({args.customer}).get(args.customer)
                if customer_id is None:
                    raise CommandFailed(f"There is no customer with the id or ingest alias {args.customer!r}.")
            scopes = ["staff"] if args.staff else (args.scope or ["ingest"])
            created = api_keys.create_api_key(operator, args.name, scopes, customer_id)
            owner = created.key.customer_name or "staff"
            print(f"Created {created.key.id} ({', '.join(created.key.scopes)}) for {owner}.")
            print("The key is shown only now; store it safely:")
            print(created.token)
        elif args.action == "list":
            for key in api_keys.list_api_keys(operator):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                owner = key.customer_name or "staff"
                print(f"{key.id}  {key.name:<24} {owner:<24} {','.join(key.scopes):<12} {state:<18} used {used}")
        else:
            revoked = api_keys.revoke_api_key(operator, args.key_id)
            print(f"Revoked {revoked.id} ({revoked.name}).")
    except ServiceError as exc:
        raise CommandFailed(str(exc)) from None
    return 0


def _api_key_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="what the key is for, e.g. 'production backend'")
    owner = create.add_mutually_exclusive_group(required=True)
    owner.add_argument("--customer", help="customer id or ingest alias the key belongs to")
    owner.add_argument("--staff", action="store_true", help="a staff key (any customer, staff API)")
    create.add_argument("--scope", action="append", choices=["ingest", "read"], help="repeatable; default ingest")
    actions.add_parser("list", help="list every key (never the secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")


COMMANDS: dict[str, Command] = {
    "migrate": Command("apply the database migrations", _migrate),
    "seed-demo": Command("add the demo tiers, customers and sign-in accounts (idempotent)", _seed_demo),
    "run": Command("migrate, seed the demo data and serve the portal in production mode", _run, _run_arguments),
    "api-key": Command("create, list or revoke API keys", _api_key, _api_key_arguments),
    "bench": Command("run a benchmark: " + ", ".join(bench.TARGETS), bench.run, bench.add_arguments),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="portal", description="Portal: usage-based billing and customer portal.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    args = build_parser().parse_args(argv)
    try:
        get_settings()
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        print(f"portal {args.command}: the settings are not valid: {problems}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command].run(args)
    except CommandFailed as exc:
        print(f"portal {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
