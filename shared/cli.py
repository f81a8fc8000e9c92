"""Command line: ``python -m shared.cli <command>``.

    bootstrap --name NAME [--plan pro|free]   create a workspace and its first admin token
                                              (free: 3 leaderboards at most, none deleted)

Talks to Firestore directly (it is how the first credential comes to exist), so it runs where
the functions' environment is set: ``source .dev.env`` locally.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shared import wiring
from shared.services import accounts


def bootstrap_workspace(*, name: str, plan: str = "pro") -> dict[str, Any]:
    return accounts.bootstrap_workspace(wiring.deps(), name=name, plan=plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap", help="create a workspace and an admin token")
    boot.add_argument("--name", required=True)
    boot.add_argument("--plan", choices=["free", "pro"], default="pro")
    args = parser.parse_args(argv)
    if args.command == "bootstrap":
        result = bootstrap_workspace(name=args.name, plan=args.plan)
        json.dump(result, sys.stdout, indent=2)
        print("\n# the token is shown only now; store it safely", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
