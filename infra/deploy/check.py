"""``make deploy-check``: the deploy, verified without cloud access.

1. Deploy to a fresh project, then again to what the first deploy made, both against the
   :class:`~infra.deploy.recorder.Recorder` (gcloud and the project) and the real google
   clients talking to stand-ins: the gRPC stand-in of Cloud Scheduler
   (``devstack.cloud_scheduler``) and the Cloud Tasks emulator. The second deploy must change
   nothing.
2. Replay every command both deploys issued through the real gcloud on this machine
   (``infra.deploy.gcloud_check``): each must pass gcloud's parser and stop only for want of
   an account. An unknown flag or argument fails the check.
3. No secret value on any command line, in any generated file or in the plan's output.
4. The URL map sends every path a public function serves to that function, routes nothing
   under ``/internal``, and stays within the load balancer's limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.deploy import urlmap
from infra.deploy.config import Config
from infra.deploy.gcloud import Call
from infra.deploy.plan import Change
from infra.deploy.recorder import FakeProject, Recorder
from infra.deploy.steps import Deployer, workdir
from shared.web.routes import DEFAULT_FUNCTION, targets

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Report:
    first: list[Change] = field(default_factory=list)
    second: list[Change] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_check(
    config: Config,
    *,
    scheduler_client: Any,
    tasks_client: Any,
    replay: Callable[[list[list[str]]], list[Any]] | None,
    echo: Callable[[str], None] = print,
) -> Report:
    report = Report()

    def say(line: str) -> None:
        report.output.append(line)

    state = FakeProject(config.project)
    with workdir() as files:
        for label, changes in (("fresh project", report.first), ("re-run", report.second)):
            echo(f"== deploy to a {label}")
            recorder = Recorder(state)
            deployer = Deployer(
                config,
                recorder,
                apply=True,
                workdir=files,
                scheduler_client=scheduler_client,
                tasks_client=tasks_client,
                echo=say,
            )
            changes.extend(deployer.run())
            report.calls.extend(recorder.calls)
            created = sum(change.mutates for change in changes)
            echo(f"   {len(changes)} resources, {created} created or updated")
            if label == "re-run" and created:
                report.problems.extend(
                    f"re-run changes {change.line()}" for change in changes if change.mutates
                )
        report.problems.extend(_secrets_leaked(report, files))
        if replay is not None:
            commands = _distinct([list(call.args) for call in report.calls])
            echo(f"== replaying {len(commands)} distinct gcloud commands through gcloud")
            for verdict in replay(commands):
                if not verdict.accepted:
                    report.problems.append(
                        f"gcloud refuses: gcloud {' '.join(verdict.command)}: {verdict.message}"
                    )
    report.problems.extend(url_map_problems(config))
    return report


def _distinct(commands: list[list[str]]) -> list[list[str]]:
    seen: dict[tuple[str, ...], None] = {}
    for command in commands:
        seen.setdefault(tuple(command), None)
    return [list(command) for command in seen]


def _secrets_leaked(report: Report, files: Path) -> list[str]:
    secrets = {call.stdin.decode() for call in report.calls if call.stdin}
    problems = []
    if not secrets:
        problems.append("no secret was created on stdin (infra/deploy.yaml declares them)")
    texts = {f"gcloud {' '.join(call.args)}": " ".join(call.args) for call in report.calls}
    texts.update({str(path): path.read_text() for path in files.iterdir() if path.is_file()})
    texts["the plan's output"] = "\n".join(report.output)
    for where, text in texts.items():
        for secret in secrets:
            if secret and secret in text:
                problems.append(f"a secret value appears in {where}")
    return problems


def url_map_problems(config: Config) -> list[str]:
    """Every (method, path) a function serves, sent where the URL map sends it."""
    import main  # noqa: F401  (registers every function's router)
    from shared.web.router import ROUTERS

    document = urlmap.url_map(config)
    problems = list(urlmap.check(document))
    host = config.target.domain
    for function in targets():  # (tests may have built routers of their own)
        for method, template in ROUTERS[function].routes():
            path = _PARAM.sub(lambda m: f"sample-{m.group(1)}", template)
            backend = urlmap.route(document, host, path)
            if function in config.private:
                if backend != urlmap.backend_url(config, DEFAULT_FUNCTION):
                    problems.append(f"{method} {path} (private {function}) is routed to {backend}")
                if DEFAULT_FUNCTION in ROUTERS and _serves(ROUTERS[DEFAULT_FUNCTION], path):
                    problems.append(f"{method} {path} is served by the public default function")
                continue
            if backend != urlmap.backend_url(config, function):
                problems.append(f"{method} {path} is served by {function} but routed to {backend}")
    backends = {
        rule["service"]
        for matcher in document["pathMatchers"]
        for rule in matcher.get("routeRules", [])
    }
    for function in config.private:
        if urlmap.backend_url(config, function) in backends:
            problems.append(f"the URL map routes to private function {function}")
    return problems


def _serves(router: Any, path: str) -> bool:
    return any(route.pattern.fullmatch(path) for route in router._routes)
