"""``python -m infra.deploy plan|apply --project P --region R --domain D``.

``apply`` creates or updates everything in the project (``make deploy``); a second run
changes nothing. ``plan`` prints every action ``apply`` would take, one per line, and touches
nothing (``make deploy-plan``): it reads the project when gcloud has an active account, and
otherwise plans for an empty project (what a first deploy does). Exit status 0 on success, 1
when a command failed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.deploy.config import ConfigError, Target, load
from infra.deploy.gcloud import GcloudFailed, SubprocessGcloud, has_active_account
from infra.deploy.recorder import FakeProject, Recorder
from infra.deploy.steps import Deployer, workdir


def _clients() -> tuple[Any, Any]:
    """The google clients with the deployer's Application Default Credentials."""
    from google.cloud import scheduler_v1, tasks_v2

    return scheduler_v1.CloudSchedulerClient(), tasks_v2.CloudTasksClient()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__)
    parser.add_argument("action", choices=["plan", "apply"])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument(
        "--empty",
        action="store_true",
        help="plan for an empty project without reading anything (plan only)",
    )
    args = parser.parse_args(argv)
    try:
        config = load(Target(args.project, args.region, args.domain))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    apply = args.action == "apply"
    live = apply or (not args.empty and has_active_account())
    if apply and args.empty:
        print("error: --empty is for plans only", file=sys.stderr)
        return 2
    if not live:
        print(f"# no gcloud account or --empty: the plan for an empty project {args.project}")
    scheduler_client, tasks_client = _clients() if live else (None, None)
    empty = FakeProject(args.project, number="PROJECT_NUMBER")  # known once it exists
    gcloud = SubprocessGcloud(args.project) if live else Recorder(empty)
    with workdir() as files:
        deployer = Deployer(
            config,
            gcloud,
            apply=apply,
            workdir=files,
            scheduler_client=scheduler_client,
            tasks_client=tasks_client,
        )
        try:
            changes = deployer.run()
        except GcloudFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    changed = sum(change.mutates for change in changes)
    done = "changed" if apply else "to change"
    print(f"# {len(changes)} resources, {changed} {done}")
    if apply:
        lb = config.spec.load_balancer
        print(
            f"# point DNS for {config.target.domain} at the address of {lb.address}:"
            f" gcloud compute addresses describe {lb.address} --global --format='value(address)'"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
