"""The smoke test Cloud Build runs after a deploy, run here against the local stack."""

from infra.smoke import smoke


def test_the_smoke_test_passes_against_a_working_stack(stack, workspace, capsys):
    assert smoke(stack.base_url, workspace.token, wait_seconds=10) == []
    assert smoke(stack.base_url, workspace.token, wait_seconds=10) == []  # reuses its leaderboard
    out = capsys.readouterr().out
    assert "ok   GET /healthz" in out and "ok   push to leaderboard" in out
    listed = workspace.api.get("/v1/leaderboards").json()["items"]
    assert [item["name"] for item in listed].count("smoke") == 1


def test_the_smoke_test_fails_with_a_wrong_token(stack):
    failures = smoke(stack.base_url, "drgero_not-a-token", wait_seconds=10)
    assert failures and "401" in failures[0]
