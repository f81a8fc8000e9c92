"""Who calls the private functions on the local stack, and how they are trusted.

Production has two invoker service accounts: Cloud Tasks attaches ID tokens of the tasks one,
Cloud Scheduler of the scheduler one, and the functions accept only those two
(``DRGERO_INTERNAL_INVOKERS``). The local stack keeps the same shape with made-up emails of the
local project: the task queue and the scheduler stand-in get their tokens from the simulator's
token stand-in (``simulator.google_identity``), whose certificates the functions trust.
"""

from __future__ import annotations

LOCAL_TASKS_ACCOUNT = "drgero-tasks@drgero-local.iam.gserviceaccount.com"
LOCAL_SCHEDULER_ACCOUNT = "drgero-scheduler@drgero-local.iam.gserviceaccount.com"


def invoker_env() -> dict[str, str]:
    """Settings naming the local invokers (the simulator's ``identity_env`` adds the URLs)."""
    return {
        "DRGERO_TASKS_SERVICE_ACCOUNT": LOCAL_TASKS_ACCOUNT,
        "DRGERO_INTERNAL_INVOKERS": f"{LOCAL_TASKS_ACCOUNT},{LOCAL_SCHEDULER_ACCOUNT}",
    }
