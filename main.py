"""Every Cloud Function entry point, for ``functions-framework --target=<name>`` and
``gcloud functions deploy <name> --entry-point=<name>``. Each lives in ``functions/``.

Loading this module is a function's cold start: the settings are validated here, so a function
with a bad configuration (a malformed ``DRGERO_INTERNAL_BASE_URL``, ...) refuses to start
with an error naming the setting, instead of failing (or opening up) on its first request.
functions-framework loads it inside the Flask app it is building, which ``adopt_app`` makes
answer JSON for the requests Flask refuses before a function sees them."""

from shared import logs
from shared.settings import get_settings
from shared.web.framework import adopt_app

logs.configure()
get_settings()  # validated at cold start: a malformed setting stops the instance, clearly named
adopt_app()

from functions.api import api  # noqa: E402
from functions.consolidation import consolidation  # noqa: E402
from functions.inference import inference_function as inference  # noqa: E402
from functions.jobs import jobs  # noqa: E402
from functions.push import push  # noqa: E402
from functions.runs import runs_function as runs  # noqa: E402
from functions.status import status  # noqa: E402
from functions.worker import worker  # noqa: E402

__all__ = ["api", "consolidation", "inference", "jobs", "push", "runs", "status", "worker"]
