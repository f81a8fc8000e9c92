"""The local stack as a user drives it: ``make dev``'s program, then the README's quickstart.

Runs ``python -m devstack.run`` as a real subprocess (free ports, its own data folder and env
file, so a developer's stack is untouched), executes the README's quickstart block verbatim with
bash, stops the stack with Ctrl-C (SIGINT), starts it again and checks the data survived.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _readme_block(name: str) -> str:
    readme = (REPO / "README.md").read_text()
    pattern = rf"<!-- {name}:start -->\n```bash\n(.*?)```\n<!-- {name}:end -->"
    block = re.search(pattern, readme, re.S)
    assert block, f"the README lost its {name} block"
    return block.group(1)


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"export (\w+)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip("'\"")
    return values


def _json_documents(text: str) -> list:
    decoder, documents, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return documents
        document, at = decoder.raw_decode(text, at)
        documents.append(document)


class DevStack:
    def __init__(self, tmp: Path) -> None:
        self.env_file = tmp / "dev.env"
        self.env = os.environ | {
            "DRGERO_DEV_DIR": str(tmp / "dev"),
            "DRGERO_DEV_ENV_FILE": str(self.env_file),
            "DRGERO_DEV_PORT": "0",
            "DRGERO_FIRESTORE_PORT": "0",
            "DRGERO_STORAGE_PORT": "0",
            "DRGERO_TASKS_PORT": "0",
            "DRGERO_SIMULATOR_PORT": "0",
        }
        for variable in (
            "FIRESTORE_EMULATOR_HOST",
            "STORAGE_EMULATOR_HOST",
            "CLOUD_TASKS_EMULATOR_HOST",
        ):
            self.env.pop(variable, None)
        self.log = tmp / "devstack.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, str]:
        before = self.env_file.stat().st_mtime_ns if self.env_file.exists() else 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.run"],
            cwd=REPO,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            if self.env_file.exists() and self.env_file.stat().st_mtime_ns > before:
                values = _read_env(self.env_file)
                if values.get("API_BASE") and values.get("DRGERO_TOKEN"):
                    return values
            time.sleep(0.5)
        raise AssertionError("make dev did not come up: " + self.log.read_text()[-3000:])

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def test_readme_quickstart_on_the_dev_stack(tmp_path: Path):
    stack = DevStack(tmp_path)
    values = stack.start()
    try:
        script = _readme_block("quickstart").replace("source .dev.env", f"source {stack.env_file}")
        run = subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                script + "\necho; echo LEADERBOARD=$PUSH_LEADERBOARD_ID",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        output, _, tail = run.stdout.rpartition("LEADERBOARD=")
        leaderboard_id = tail.strip()
        documents = _json_documents(output)
        seed_push, batch_push, consolidated, status, *dataset = documents
        assert seed_push["accepted"] == 1
        assert batch_push["accepted"] == 2
        assert [(r["index"], r["code"]) for r in batch_push["rejected"]] == [(2, "missing_input")]
        assert consolidated["status"] == "consolidated"
        assert consolidated["version"]["rows"] == 3
        assert status["counts"]["accepted"] == 3
        assert status["counts"]["rejected"] == 1
        assert status["dataset"]["version"] == 1
        assert [t["name"] for t in status["tokens"]] == ["production app"]
        assert {row["expected"] for row in dataset} == {
            "The answer your current LLM returned",
            "Settings > Security.",
            "Yes, with up to 10 leaderboards.",
        }
        chat = next(row for row in dataset if row["messages"])
        assert chat["input"] == "system: You are support.\n\nuser: Is there a free plan?"
        assert chat["metadata"]["tags"] == ["pricing"]

        walk = (
            _readme_block("ranking")
            .replace("source .dev.env", f"source {stack.env_file}")
            .replace(".venv/bin/python", sys.executable)
            # The installed `drgero` script runs `cli.main:main`, as `python -m cli` does.
            .replace(".venv/bin/drgero", f"{sys.executable} -m cli")
        )
        ranked = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walk],
            cwd=tmp_path,  # its files land here; the CLI step imports from the repo
            env=os.environ | {"PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ranked.returncode == 0, ranked.stderr
        final, answer, tokens = _json_documents(ranked.stdout)[-3:]
        assert len(final["ranking"]) == 3
        assert all(m["mean_score"] is not None for m in final["ranking"])
        assert final["selected"]["id"]
        assert answer["output"] and answer["model"] == final["selected"]["label"], answer
        assert answer["fallback"] is False and answer["trace_id"].startswith("tr_")
        assert [t["name"] for t in tokens if "workspace:admin" in t["scopes"]], tokens
        assert all("spend_usd" in t and "budget_usd" in t for t in tokens)
    finally:
        assert stack.stop() == 0

    # A second start finds no stale process or port, reuses the token and kept the data.
    again = stack.start()
    try:
        assert again["DRGERO_TOKEN"] == values["DRGERO_TOKEN"]
        response = httpx.get(
            f"{again['API_BASE']}/v1/leaderboard/{leaderboard_id}/dataset/status",
            headers={"Authorization": f"Bearer {again['DRGERO_TOKEN']}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["dataset"]["rows"] == 3
    finally:
        assert stack.stop() == 0
