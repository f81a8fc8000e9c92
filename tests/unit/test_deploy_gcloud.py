"""The deploy's gcloud runner, against a stand-in executable (a real program the test writes)
that answers like gcloud: IAM bindings are retried while IAM catches up, nothing else is."""

import json
import stat
from pathlib import Path

import pytest

from infra.deploy.gcloud import GcloudFailed, SubprocessGcloud

SCRIPT = """#!/usr/bin/env python3
import json, pathlib, sys
state = pathlib.Path({state!r})
calls = json.loads(state.read_text()) if state.exists() else []
calls.append({{"argv": sys.argv[1:], "stdin": sys.stdin.read()}})
state.write_text(json.dumps(calls))
if "add-iam-policy-binding" in sys.argv and len(calls) < {fail_times} + 1:
    sys.exit("ERROR: (gcloud.projects.add-iam-policy-binding) INVALID_ARGUMENT: Service account"
             " drgero-api@p.iam.gserviceaccount.com does not exist.")
if "create" in sys.argv and "broken" in sys.argv:
    sys.exit("ERROR: (gcloud.x.create) PERMISSION_DENIED: no")
print(json.dumps({{"ok": True}}))
"""


def fake_gcloud(tmp_path: Path, fail_times: int) -> tuple[str, Path]:
    state = tmp_path / "calls.json"
    path = tmp_path / "gcloud"
    path.write_text(SCRIPT.format(state=str(state), fail_times=fail_times))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path), state


def test_a_binding_is_retried_until_the_new_account_exists(tmp_path):
    executable, state = fake_gcloud(tmp_path, fail_times=2)
    gcloud = SubprocessGcloud("p", executable=executable, retry_delays=(0.01, 0.01, 0.01))
    gcloud.run("projects", "add-iam-policy-binding", "p", "--member=m", "--role=r")
    calls = json.loads(state.read_text())
    assert len(calls) == 3
    assert calls[0]["argv"][-2:] == ["--project=p", "--quiet"]


def test_a_binding_gives_up_after_its_retries(tmp_path):
    executable, _ = fake_gcloud(tmp_path, fail_times=10)
    gcloud = SubprocessGcloud("p", executable=executable, retry_delays=(0.01,))
    with pytest.raises(GcloudFailed, match="does not exist"):
        gcloud.run("projects", "add-iam-policy-binding", "p", "--member=m", "--role=r")


def test_other_failures_are_not_retried_and_stdin_is_passed_not_shown(tmp_path):
    executable, state = fake_gcloud(tmp_path, fail_times=0)
    gcloud = SubprocessGcloud("p", executable=executable, retry_delays=(0.01,))
    with pytest.raises(GcloudFailed) as failed:
        gcloud.run("secrets", "create", "broken", "--data-file=-", stdin=b"s3cret-value")
    assert "PERMISSION_DENIED" in str(failed.value) and "s3cret" not in str(failed.value)
    calls = json.loads(state.read_text())
    assert len(calls) == 1 and calls[0]["stdin"] == "s3cret-value"
    assert gcloud.read("projects", "describe", "p") == {"ok": True}
    assert json.loads(state.read_text())[-1]["argv"][-1] == "--format=json"
