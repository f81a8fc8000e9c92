"""Every gcloud command the README's "Deploy to Google Cloud" section tells an ops engineer to
type passes the real gcloud's parser (it stops for want of an account, nothing else)."""

import re
import shlex
from pathlib import Path

import pytest

from infra.deploy import gcloud_check

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_gcloud_commands() -> list[list[str]]:
    """Each ``gcloud ...`` of the section's bash blocks (also after ``|``, ``&&`` or inside
    ``( ... )``), as argv without the leading ``gcloud``; not those inside ``$( ... )``."""
    text = README.read_text()
    section = text[text.index("## Deploy to Google Cloud") : text.index("## Limits")]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        exported: dict[str, str] = {}  # `export NAME=value` lines, expanded as a shell would
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if match := re.match(r"\s*export (\w+)=(\S+)$", line):
                exported[match.group(1)] = match.group(2)
            for name, value in exported.items():
                line = line.replace(f"${name}", value)
            lexer = shlex.shlex(line, posix=True, punctuation_chars="|&();")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            segment: list[str] = []
            substituted = False
            for token in [*lexer, ";"]:
                if token and set(token) <= set("|&();"):
                    if segment[:1] == ["gcloud"] and not substituted:
                        commands.append(segment[1:])
                    substituted = (token == "(" and segment[-1:] == ["$"]) or (
                        substituted and token != ")"
                    )
                    segment = []
                else:
                    segment.append(token)
    return commands


def test_the_readme_names_the_commands_an_ops_engineer_needs():
    commands = [" ".join(argv) for argv in readme_gcloud_commands()]
    for needed in ("builds triggers create manual", "builds triggers create github",
                   "run services update-traffic", "run revisions list", "secrets versions add",
                   "beta builds approve", "--require-approval"):  # fmt: skip
        assert any(needed in command for command in commands), needed


def test_every_gcloud_command_in_the_deploy_section_parses():
    if gcloud_check.find_gcloud() is None:
        pytest.skip("gcloud is not installed")
    commands = readme_gcloud_commands()
    verdicts = gcloud_check.check(commands)
    refused = [verdict.line() for verdict in verdicts if not verdict.accepted]
    assert not refused, "\n".join(refused)
