"""The ``drgero`` command's arguments and what each command does (see ``cli`` for the list).

``main`` is the console script (``[project.scripts]`` in pyproject.toml); ``python -m cli``
calls it too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cli.direct import bootstrap_workspace, reencrypt_secrets
from cli.http import PAGE_SIZE, ApiClient, CliError
from cli.output import format_table, format_token, print_json

ENV_API_BASE = "API_BASE"
ENV_TOKEN = "DRGERO_TOKEN"  # noqa: S105 (the variable's name, not a secret)


def _tokens_command(args: argparse.Namespace, client: ApiClient) -> int:
    if args.tokens_command == "list":
        listed = list(client.tokens(page_size=args.page_size))
        if args.json:
            print_json(listed)
        else:
            print(format_table(listed))
    elif args.tokens_command == "show":
        token = client.find_token(args.token_id)
        if args.json:
            print_json(token)
        else:
            print(format_token(token))
    elif args.tokens_command == "create":
        print_json(client.create_token(_create_body(args)))
        print("# the token is shown only now; store it safely", file=sys.stderr)
    elif args.tokens_command == "revoke":
        client.revoke_token(args.token_id)
        print(f"revoked {args.token_id}")
    return 0


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    # Only what was given: the API's defaults (scope leaderboards:read, no budget, no expiry)
    # then apply, and the API, not the CLI, validates (unknown scope, past expiry, ...).
    body: dict[str, Any] = {"name": args.name}
    optional = {
        "scopes": args.scopes,
        "budget_usd": args.budget_usd,
        "expires_in_days": args.expires_in_days,
        "expires_at": args.expires_at,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _client(args: argparse.Namespace) -> ApiClient:
    # The CLI's own variables (what .dev.env exports), read when a command runs, never at
    # import; the functions' settings (shared.settings) are a different audience.
    base_url = args.api_base or os.environ.get(ENV_API_BASE, "")
    token = args.token or os.environ.get(ENV_TOKEN, "")
    if not base_url:
        raise CliError(
            f"error: no API base URL: pass --api-base or set {ENV_API_BASE}"
            " (after make dev: source .dev.env)",
            status=2,
        )
    if not base_url.startswith(("http://", "https://")):
        raise CliError(
            f"error: the API base URL must start with http:// or https://, got {base_url!r}",
            status=2,
        )
    if not token:
        raise CliError(
            f"error: no API token: pass --token or set {ENV_TOKEN}"
            " (a workspace:admin token; after make dev: source .dev.env)",
            status=2,
        )
    return ApiClient(base_url=base_url, token=token)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drgero")
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser("bootstrap", help="create a workspace and an admin token")
    boot.add_argument("--name", required=True)
    boot.add_argument("--plan", choices=["free", "pro"], default="pro")

    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--api-base", help=f"the API's base URL (default: ${ENV_API_BASE})")
    api.add_argument("--token", help=f"a workspace:admin token (default: ${ENV_TOKEN})")
    tokens = commands.add_parser("tokens", help="API tokens, their budget and spend (HTTP API)")
    actions = tokens.add_subparsers(dest="tokens_command", required=True)

    listing = actions.add_parser("list", parents=[api], help="every API token, as a table")
    listing.add_argument("--json", action="store_true", help="print the JSON list instead")
    listing.add_argument(
        "--page-size", type=int, default=PAGE_SIZE, help=f"tokens per request (default {PAGE_SIZE})"
    )
    show = actions.add_parser("show", parents=[api], help="one API token, spend included")
    show.add_argument("token_id")
    show.add_argument("--json", action="store_true", help="print the token's JSON instead")

    create = actions.add_parser("create", parents=[api], help="create an API token")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        metavar="SCOPE",
        help="repeat for several: leaderboards:read (default), leaderboards:write, inference,"
        " workspace:admin",
    )
    create.add_argument("--budget-usd", type=float, help="refuse calls once this is spent")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=int, metavar="DAYS")
    expiry.add_argument("--expires-at", metavar="ISO", help="e.g. 2027-01-01T00:00:00Z")

    revoke = actions.add_parser("revoke", parents=[api], help="revoke an API token")
    revoke.add_argument("token_id")

    stored = commands.add_parser("secrets", help="stored provider credentials (Firestore)")
    secret_actions = stored.add_subparsers(dest="secrets_command", required=True)
    again = secret_actions.add_parser(
        "re-encrypt", help="re-encrypt every stored secret with the first DRGERO_SECRETS_KEY key"
    )
    again.add_argument("--workspace", help="only this workspace's secrets (default: every one)")
    again.add_argument(
        "--page-size", type=_positive_int, default=PAGE_SIZE, help="documents per query"
    )
    return parser


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "bootstrap":
        result = bootstrap_workspace(name=args.name, plan=args.plan)
        json.dump(result, sys.stdout, indent=2)
        print("\n# the token is shown only now; store it safely", file=sys.stderr)
        return 0
    if args.command == "secrets":
        done = reencrypt_secrets(workspace_id=args.workspace, page_size=args.page_size)
        print_json(done)
        return 1 if done["unreadable"] else 0
    try:
        client = _client(args)
        try:
            return _tokens_command(args, client)
        finally:
            client.close()
    except CliError as error:
        print(error.message, file=sys.stderr)
        return error.status
