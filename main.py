"""Every Cloud Function entry point, for ``functions-framework --target=<name>`` and
``gcloud functions deploy <name> --entry-point=<name>``. Each lives in ``functions/``."""

from shared import logs
from shared.settings import Settings

logs.configure()
Settings()  # validated at cold start: a malformed setting stops the instance, clearly named

from functions.api import api  # noqa: E402
from functions.consolidation import consolidation  # noqa: E402
from functions.inference import inference_function as inference  # noqa: E402
from functions.jobs import jobs  # noqa: E402
from functions.push import push  # noqa: E402
from functions.runs import runs_function as runs  # noqa: E402
from functions.status import status  # noqa: E402
from functions.worker import worker  # noqa: E402

__all__ = ["api", "consolidation", "inference", "jobs", "push", "runs", "status", "worker"]
