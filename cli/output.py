"""What the ``tokens`` commands print: an aligned table, one token's fields, or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

TABLE_COLUMNS = (
    "id",
    "name",
    "kind",
    "scopes",
    "budget_usd",
    "spend_usd",
    "remaining_usd",
    "expires_at",
    "revoked",
)
RIGHT_ALIGNED = {"budget_usd", "spend_usd", "remaining_usd"}


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


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    print()
