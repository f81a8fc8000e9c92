"""The ``tokens`` commands of ``drgero`` (the ``cli`` package) against the running test stack.

The CLI runs in-process (``cli.main.main``) but speaks real HTTP to the stack's base URL, as
it does against ``make dev``. Spend comes from real inference calls on a ranked leaderboard
(simulated models), then shows in ``tokens list`` and ``tokens show``. Every run checks that
the token used for auth appears neither on stdout nor on stderr.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli import main as cli
from cli.output import TABLE_COLUMNS
from tests.conftest import Workspace
from tests.inference_support import (
    connect_openrouter_key,
    eventually,
    infer,
    ranked_leaderboard,
    register_models,
)

A, B = "sim/cli-a", "sim/cli-b"
# Its one run needs a ranking, not shards nor 100 rows (tests/integration/conftest.py).
pytestmark = pytest.mark.usefixtures("one_shard_runs_in_module", "small_datasets")


class Run:
    """One CLI invocation: exit status, stdout, stderr."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err

    def json(self) -> Any:
        assert self.status == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def run(stack, workspace: Workspace, capsys: pytest.CaptureFixture[str]):
    """``run(*argv, token=...)``: the CLI as the workspace's admin (or ``token``)."""

    def invoke(*argv: str, token: str | None = None, auth: bool = True) -> Run:
        secret = token or workspace.token
        flags = ["--api-base", stack.base_url, "--token", secret] if auth else []
        capsys.readouterr()
        status = cli.main([*argv, *flags])
        captured = capsys.readouterr()
        assert secret not in captured.out and secret not in captured.err
        assert "Traceback" not in captured.err
        return Run(status, captured.out, captured.err)

    return invoke


def _name() -> str:
    return "cli-" + uuid.uuid4().hex[:8]


def _fields(shown: str) -> dict[str, str]:
    """``tokens show``'s ``key  value`` lines as a dict."""
    return {key: value for key, value in (line.split(None, 1) for line in shown.splitlines())}


def _table(listed: str) -> tuple[str, dict[str, str]]:
    """``tokens list``'s header and its rows by token id (first cell)."""
    header, *rows = listed.splitlines()
    return header, {row.split()[0]: row for row in rows}


def _right_cell(header: str, row: str, column: str) -> str:
    """The cell of a right-aligned column: it ends where the column's header ends."""
    end = header.index(column) + len(column)
    assert row[end : end + 1] in ("", " "), (header, row)
    return row[:end].split()[-1]


def _left_cell(header: str, row: str, column: str) -> str:
    """The cell of a left-aligned column: it starts where the column's header starts."""
    start = header.index(column)
    assert row[start - 1] == " ", (header, row)
    return row[start:].split()[0]


# ----------------------------------------------------------------------------- spend and budget


def test_a_budgeted_tokens_spend_shows_in_list_and_show(run, workspace):
    connect_openrouter_key(workspace.api)
    register_models({A: 0.9, B: 0.3})
    ranked = ranked_leaderboard(workspace.api, [A, B])
    name = _name()

    created = run(
        "tokens", "create", "--name", name, "--scope", "inference", "--budget-usd", "0.5"
    )  # fmt: skip
    made = created.json()
    assert "shown only now" in created.err
    assert made["token"].startswith("drgero_") and made["name"] == name
    assert made["scopes"] == ["inference"]
    assert made["budget_usd"] == 0.5 and made["spend_usd"] == 0
    assert made["expires_at"] is None and made["revoked_at"] is None

    caller = workspace.api.as_token(made["token"])
    costs = []
    for i in range(2):
        answer = infer(caller, ranked.lb, input=f"What is {i} plus {i + 1000}?")
        assert answer.status_code == 200, answer.text
        costs.append(answer.json()["cost_usd"])
    spent = sum(costs)
    assert spent > 0

    def listed_with_spend() -> dict[str, Any] | None:
        entry = next(t for t in run("tokens", "list", "--json").json() if t["id"] == made["id"])
        return entry if entry["spend_usd"] == pytest.approx(spent) else None

    entry = eventually(listed_with_spend)
    assert entry["budget_usd"] == 0.5 and entry["token_masked"] == made["token_masked"]

    table = run("tokens", "list")
    assert table.status == 0, table.err
    header, rows = _table(table.out)
    assert header.split() == list(TABLE_COLUMNS)
    row = rows[made["id"]]
    assert _left_cell(header, row, "name") == name
    assert _left_cell(header, row, "kind") == "api"
    assert _left_cell(header, row, "scopes") == "inference"
    assert float(_right_cell(header, row, "budget_usd")) == 0.5
    assert float(_right_cell(header, row, "spend_usd")) == pytest.approx(spent, abs=1e-6)
    assert float(_right_cell(header, row, "remaining_usd")) == pytest.approx(0.5 - spent, abs=1e-6)
    assert _left_cell(header, row, "expires_at") == "never"
    assert _left_cell(header, row, "revoked") == "no"
    # The admin token that made the workspace has no budget: no figure to invent.
    admin_rows = [r for token_id, r in rows.items() if token_id != made["id"]]
    assert admin_rows and all(_right_cell(header, r, "budget_usd") == "-" for r in admin_rows)
    assert all(_right_cell(header, r, "remaining_usd") == "-" for r in admin_rows)

    shown = run("tokens", "show", made["id"])
    assert shown.status == 0, shown.err
    fields = _fields(shown.out)
    assert fields["id"] == made["id"] and fields["name"] == name
    assert fields["scopes"] == "inference" and fields["token"] == made["token_masked"]
    assert float(fields["budget_usd"]) == 0.5
    assert float(fields["spend_usd"]) == pytest.approx(spent, abs=1e-6)
    assert float(fields["remaining_usd"]) == pytest.approx(0.5 - spent, abs=1e-6)
    assert fields["revoked"] == "no" and fields["expires_at"] == "never"
    assert made["token"] not in shown.out

    assert run("tokens", "show", made["id"], "--json").json() == entry


def test_list_follows_the_pages_to_the_last_token(run):
    made = [run("tokens", "create", "--name", _name()).json()["id"] for _ in range(4)]
    paged = run("tokens", "list", "--json", "--page-size", "2").json()
    whole = run("tokens", "list", "--json").json()
    ids = [token["id"] for token in paged]
    assert len(ids) == 5 and len(set(ids)) == 5  # the 4 new ones and the bootstrap admin token
    assert set(made) <= set(ids)
    assert paged == whole


# ----------------------------------------------------------------------------- create and revoke


def test_create_sends_scopes_and_an_expiry(run):
    in_days = run(
        "tokens", "create", "--name", _name(), "--scope", "leaderboards:write",
        "--scope", "inference", "--expires-in-days", "30",
    ).json()  # fmt: skip
    assert in_days["scopes"] == ["inference", "leaderboards:write"]
    assert in_days["budget_usd"] is None
    expires = datetime.fromisoformat(in_days["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)

    at = run("tokens", "create", "--name", _name(), "--expires-at", "2031-01-02T03:04:05Z").json()
    assert datetime.fromisoformat(at["expires_at"]) == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert at["scopes"] == ["leaderboards:read"]  # the API's default

    fields = _fields(run("tokens", "show", at["id"]).out)
    assert datetime.fromisoformat(fields["expires_at"]) == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert fields["budget_usd"] == "none" and fields["remaining_usd"] == "-"


def test_revoke_then_show_says_revoked(run, workspace):
    made = run("tokens", "create", "--name", _name(), "--scope", "leaderboards:read").json()
    revoked = run("tokens", "revoke", made["id"])
    assert (revoked.status, revoked.out.strip()) == (0, f"revoked {made['id']}")

    fields = _fields(run("tokens", "show", made["id"]).out)
    assert fields["revoked"].startswith("yes, at ")
    as_json = run("tokens", "show", made["id"], "--json").json()
    revoked_at = datetime.fromisoformat(as_json["revoked_at"])
    assert abs(datetime.now(UTC) - revoked_at) < timedelta(minutes=5)
    assert fields["revoked"] == f"yes, at {as_json['revoked_at']}"
    header, rows = _table(run("tokens", "list").out)
    assert _left_cell(header, rows[made["id"]], "revoked") == as_json["revoked_at"]

    refused = workspace.api.as_token(made["token"]).get("/v1/workspace")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"


# ----------------------------------------------------------------------------- errors


def test_an_api_error_prints_its_code_and_message_and_exits_1(run):
    unknown = "tok_" + uuid.uuid4().hex[:20]
    refused = run("tokens", "revoke", unknown)
    assert refused.status == 1 and refused.out == ""
    assert refused.err.strip() == f"error token_not_found: token {unknown} not found"

    invalid = run("tokens", "create", "--name", _name(), "--scope", "everything")
    assert invalid.status == 1 and invalid.out == ""
    assert invalid.err.startswith("error validation_failed: invalid request: scopes: ")
    assert "everything" in invalid.err

    naive = run("tokens", "create", "--name", _name(), "--expires-at", "2031-01-01T00:00:00")
    assert naive.status == 1 and "expires_at needs a timezone" in naive.err


def test_a_bad_or_too_weak_token_is_an_api_error(run):
    bogus = "drgero_" + uuid.uuid4().hex
    refused = run("tokens", "list", token=bogus)  # the fixture checks it is never printed
    assert refused.status == 1 and refused.out == ""
    assert refused.err.strip() == "error invalid_token: the API token is not valid"

    reader = run("tokens", "create", "--name", _name()).json()
    weak = run("tokens", "show", reader["id"], token=reader["token"])
    assert weak.status == 1
    assert weak.err.startswith("error insufficient_scope: ")
    assert "workspace:admin" in weak.err


def test_show_of_an_unknown_token_exits_1(run):
    unknown = "tok_" + uuid.uuid4().hex[:20]
    missing = run("tokens", "show", unknown)
    assert missing.status == 1 and missing.out == ""
    assert missing.err.startswith("error token_not_found: ") and unknown in missing.err


def test_without_a_token_or_a_base_url_the_cli_exits_2(stack, monkeypatch, capsys):
    monkeypatch.delenv(cli.ENV_TOKEN, raising=False)
    monkeypatch.delenv(cli.ENV_API_BASE, raising=False)

    assert cli.main(["tokens", "list", "--api-base", stack.base_url]) == 2
    err = capsys.readouterr().err
    assert "no API token" in err and "--token" in err and cli.ENV_TOKEN in err

    assert cli.main(["tokens", "list", "--token", "drgero_x"]) == 2
    err = capsys.readouterr().err
    assert "no API base URL" in err and "--api-base" in err and cli.ENV_API_BASE in err

    assert cli.main(["tokens", "list", "--api-base", "127.0.0.1:8080", "--token", "t"]) == 2
    assert "http://" in capsys.readouterr().err

    with pytest.raises(SystemExit) as both:
        cli.main(["tokens", "create", "--name", "x", "--expires-in-days", "1",
                  "--expires-at", "2031-01-01T00:00:00Z"])  # fmt: skip
    assert both.value.code == 2


def test_the_environment_gives_the_defaults(stack, workspace, monkeypatch, capsys):
    monkeypatch.setenv(cli.ENV_API_BASE, stack.base_url)
    monkeypatch.setenv(cli.ENV_TOKEN, workspace.token)
    assert cli.main(["tokens", "list", "--json"]) == 0
    captured = capsys.readouterr()
    listed = json.loads(captured.out)
    admin = workspace.api.get("/v1/workspace").json()["token"]["id"]
    assert [token["id"] for token in listed] == [admin]
    assert workspace.token not in captured.out + captured.err


def test_an_unreachable_api_is_a_clear_message(capsys):
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "drgero_" + uuid.uuid4().hex
    status = cli.main(
        ["tokens", "list", "--api-base", f"http://127.0.0.1:{port}", "--token", secret]
    )
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err.startswith(f"error: cannot reach the API at http://127.0.0.1:{port} (")
    assert "ConnectError" in captured.err and "Traceback" not in captured.err
    assert secret not in captured.err
