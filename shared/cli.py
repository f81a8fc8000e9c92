"""Command line: ``python -m shared.cli <command>``.

    bootstrap --name NAME [--plan pro|free]   create a workspace and its first admin token
                                              (free: 3 leaderboards at most, none deleted)
    tokens list [--json] [--page-size N]      the workspace's API tokens with their budget,
                                              spend and what remains, as a table
    tokens show TOKEN_ID [--json]             one API token, spend and budget included
    tokens create --name NAME [--scope S ...] [--budget-usd X]
                  [--expires-in-days D | --expires-at ISO]
                                              a new API token (printed once, as JSON)
    tokens revoke TOKEN_ID                    revoke an API token
    secrets re-encrypt [--workspace WS] [--page-size N]
                                              re-encrypt every stored integration and
                                              endpoint token with the first key of
                                              DRGERO_SECRETS_KEY (after a rotation)

``bootstrap`` and ``secrets`` talk to Firestore directly (the first is how the first
credential comes to exist, the second needs the keys), so they run where the functions'
environment is set: ``source .dev.env`` locally.

Rotating ``DRGERO_SECRETS_KEY``: set it to ``NEW,OLD`` (the first key encrypts, all decrypt)
and deploy; run ``secrets re-encrypt`` (idempotent: rerun it until it reports
``"unreadable": 0``; it is paged and safe while the service runs); then set it to ``NEW``.
Exit status 1 when some secret no configured key can read (they are listed, left untouched).

The ``tokens`` commands talk to the HTTP API, as any client would. Each takes
``--api-base URL`` (default: ``$API_BASE``) and ``--token TOKEN`` (default: ``$DRGERO_TOKEN``,
a ``workspace:admin`` token); ``make dev`` writes both into ``.dev.env``. The token used for
auth is never printed.

Exit status: 0 done; 1 the API refused (``error <code>: <message>`` on stderr), the token is
not found, or the API cannot be reached; 2 a usage error (bad arguments, no base URL, no token).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

ENV_API_BASE = "API_BASE"
ENV_TOKEN = "DRGERO_TOKEN"  # noqa: S105 (the variable's name, not a secret)
PAGE_SIZE = 200  # the API's largest page: fewest round trips
TABLE_COLUMNS = (
    "id", "name", "kind", "scopes", "budget_usd", "spend_usd", "remaining_usd", "expires_at",
    "revoked",
)  # fmt: skip
RIGHT_ALIGNED = {"budget_usd", "spend_usd", "remaining_usd"}


class CliError(Exception):
    """A failure the user can act on: printed as one line on stderr, never as a traceback."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiError(CliError):
    """The API answered with its error body ``{"error": {"code", "message", ...}}``."""

    def __init__(self, *, code: str, message: str, http_status: int) -> None:
        super().__init__(f"error {code}: {message}")
        self.code = code
        self.http_status = http_status


class ApiClient:
    """The admin API as one token sees it; speaks HTTP only, so it works against any stack."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def tokens(self, *, page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every API token of the workspace, page after page (``next_cursor``)."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/v1/tokens", params=params)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def find_token(self, token_id: str) -> dict[str, Any]:
        # The API has no GET /v1/tokens/{id}: the list is the one place a token's spend shows.
        for token in self.tokens():
            if token["id"] == token_id:
                return token
        raise CliError(f"error token_not_found: no API token {token_id} in this workspace")

    def create_token(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/tokens", json=body))

    def revoke_token(self, token_id: str) -> None:
        self._call("DELETE", f"/v1/tokens/{token_id}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            # The message names the URL and the cause; the request's headers never appear.
            raise CliError(
                f"error: cannot reach the API at {self.base_url}"
                f" ({type(error).__name__}: {error}); is the stack running (make dev)?"
            ) from None
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"error: {method} {path} answered {response.status_code} with a body that is"
                f" not JSON: {response.text[:200]!r}"
            ) from None


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        # Not our error body (a proxy's page, an emulator's crash): say what came back.
        code = f"http_{response.status_code}"
        message = response.text.strip()[:200] or response.reason_phrase
    return ApiError(code=code, message=message, http_status=response.status_code)


# ----------------------------------------------------------------------------- output


def _money(value: float | None) -> str:
    """Dollars to the micro-dollar, trailing zeros dropped but two decimals kept."""
    if value is None:
        return "-"
    text = f"{value:.6f}".rstrip("0")
    return text + "0" * (2 - len(text.split(".")[1]))


def _remaining(token: dict[str, Any]) -> float | None:
    budget = token.get("budget_usd")
    return None if budget is None else max(budget - (token.get("spend_usd") or 0.0), 0.0)


def _cells(token: dict[str, Any]) -> dict[str, str]:
    return {
        "id": token["id"],
        "name": token["name"],
        "kind": token.get("kind", "api"),
        "scopes": ",".join(token.get("scopes") or []),
        "budget_usd": _money(token.get("budget_usd")),
        "spend_usd": _money(token.get("spend_usd")),
        "remaining_usd": _money(_remaining(token)),
        "expires_at": token.get("expires_at") or "never",
        "revoked": token.get("revoked_at") or "no",
    }


def format_table(tokens: Sequence[dict[str, Any]]) -> str:
    rows = [dict(zip(TABLE_COLUMNS, TABLE_COLUMNS, strict=True))] + [_cells(t) for t in tokens]
    widths = {c: max(len(row[c]) for row in rows) for c in TABLE_COLUMNS}

    def line(row: dict[str, str]) -> str:
        cells = (
            row[c].rjust(widths[c]) if c in RIGHT_ALIGNED else row[c].ljust(widths[c])
            for c in TABLE_COLUMNS
        )
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in rows)


def format_token(token: dict[str, Any]) -> str:
    cells = _cells(token)
    fields = {
        "id": cells["id"],
        "name": cells["name"],
        "kind": cells["kind"],
        "scopes": ", ".join(token.get("scopes") or []) or "-",
        "token": token.get("token_masked") or "-",
        "created_at": token.get("created_at") or "-",
        "expires_at": cells["expires_at"],
        "budget_usd": cells["budget_usd"] if token.get("budget_usd") is not None else "none",
        "spend_usd": cells["spend_usd"],
        "remaining_usd": cells["remaining_usd"],
        "revoked": f"yes, at {token['revoked_at']}" if token.get("revoked_at") else "no",
    }
    width = max(len(key) for key in fields)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in fields.items())


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    print()


# ----------------------------------------------------------------------------- commands


def bootstrap_workspace(*, name: str, plan: str = "pro") -> dict[str, Any]:
    # Imported here: the Google clients take a second to load and the HTTP commands need none.
    from shared import wiring
    from shared.services import accounts

    return accounts.bootstrap_workspace(wiring.deps(), name=name, plan=plan)


def reencrypt_secrets(*, workspace_id: str | None, page_size: int) -> dict[str, Any]:
    from shared import wiring
    from shared.services import integrations

    return integrations.reencrypt_secrets(
        wiring.deps(), page_size=page_size, workspace_id=workspace_id
    )


def _tokens_command(args: argparse.Namespace, client: ApiClient) -> int:
    if args.tokens_command == "list":
        listed = list(client.tokens(page_size=args.page_size))
        if args.json:
            _print_json(listed)
        else:
            print(format_table(listed))
    elif args.tokens_command == "show":
        token = client.find_token(args.token_id)
        if args.json:
            _print_json(token)
        else:
            print(format_token(token))
    elif args.tokens_command == "create":
        _print_json(client.create_token(_create_body(args)))
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
    parser = argparse.ArgumentParser(prog="python -m shared.cli")
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
        "--scope", dest="scopes", action="append", metavar="SCOPE",
        help="repeat for several: leaderboards:read (default), leaderboards:write, inference,"
        " workspace:admin",
    )  # fmt: skip
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
        _print_json(done)
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


if __name__ == "__main__":
    raise SystemExit(main())
