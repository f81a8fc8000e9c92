"""Smoke test of a deployed Dr.Gero: ``python -m infra.smoke https://api.example.com``.

Cloud Build runs it after each deploy (``cloudbuild*.yaml``); an ops engineer can run it by hand.
It checks what a user's first minute needs, through the public URL: the functions are live
(``/healthz``) and reach Firestore (``/readyz``), a push is accepted and its status counts it.
The API token comes from ``DRGERO_SMOKE_TOKEN`` (never from the command line): a token of a
workspace kept for the purpose, with ``leaderboards:read`` and ``leaderboards:write`` (README,
"Deploy to Google Cloud"). It uses one PUSH leaderboard named ``smoke``, created on the first
run, and pushes one row per run with an Idempotency-Key, so re-running it is harmless.
Exit status 0 when every check passed, 1 otherwise (each failure printed).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

import httpx

LEADERBOARD_NAME = "smoke"
# A deploy may still be rolling out the new revision, or the certificate provisioning.
DEFAULT_WAIT_SECONDS = 300


class SmokeFailed(RuntimeError):
    pass


def _expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise SmokeFailed(
            f"{response.request.method} {response.request.url.path} answered"
            f" {response.status_code}: {response.text[:300]}"
        )
    return response.json()


def _wait_live(client: httpx.Client, path: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            _expect(client.get(path), 200)
            return
        except (httpx.HTTPError, SmokeFailed, ValueError) as exc:
            if time.monotonic() > deadline:
                raise SmokeFailed(f"{path} is not up after {wait_seconds:g} s: {exc}") from exc
            time.sleep(min(5.0, wait_seconds / 10))


def _leaderboard(client: httpx.Client) -> str:
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = _expect(client.get("/v1/leaderboards", params=params), 200)
        for item in page["items"]:
            if item.get("name") == LEADERBOARD_NAME:
                return str(item["id"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    created = _expect(
        client.post(
            "/v1/leaderboards",
            json={
                "name": LEADERBOARD_NAME,
                "system_prompt": "Answer briefly.\n\n{input}",
                "dataset": {"mode": "push"},
                "evaluation": {"type": "exact"},
            },
        ),
        201,
    )
    return str(created["id"])


def smoke(base_url: str, token: str, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> list[str]:
    """Every check that failed (empty: all passed)."""
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "drgero-smoke"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        for path in ("/healthz", "/readyz"):
            try:
                _wait_live(client, path, wait_seconds)
                print(f"ok   GET {path}")
            except SmokeFailed as exc:
                failures.append(str(exc))
        if failures:
            return failures
        try:
            leaderboard = _leaderboard(client)
            run = uuid.uuid4().hex[:12]
            pushed = _expect(
                client.post(
                    f"/v1/leaderboard/{leaderboard}/dataset/push",
                    json={"id": f"smoke-{run}", "input": f"smoke {run}", "output": "ok"},
                    headers={"Idempotency-Key": f"smoke-{run}"},
                ),
                200,
                202,
            )
            if pushed.get("accepted") != 1:
                failures.append(f"the push accepted {pushed.get('accepted')!r} rows, not 1")
            else:
                print(f"ok   push to leaderboard {leaderboard}")
            status = _expect(client.get(f"/v1/leaderboard/{leaderboard}/dataset/status"), 200)
            print(f"ok   status: {status['counts']}")
        except (SmokeFailed, httpx.HTTPError, ValueError) as exc:
            failures.append(str(exc))
    return failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].startswith(("https://", "http://")):
        print("usage: DRGERO_SMOKE_TOKEN=... python -m infra.smoke https://HOST", file=sys.stderr)
        return 2
    token = os.environ.get("DRGERO_SMOKE_TOKEN", "").strip()
    if not token:
        print("DRGERO_SMOKE_TOKEN is not set", file=sys.stderr)
        return 2
    failures = smoke(args[0].rstrip("/"), token)
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
