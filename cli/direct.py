"""The two commands that reach Firestore directly instead of the HTTP API.

The rest of the CLI speaks HTTP only. These two cannot:

- ``bootstrap`` creates a workspace and its first admin token. No HTTP endpoint can do that:
  every endpoint wants a token, and this is how the first one comes to exist.
- ``secrets re-encrypt`` re-encrypts stored provider credentials with the first key of
  ``DRGERO_SECRETS_KEY``; it needs the keys, which only the deployment holds.

So they run where the functions' environment is set (``source .dev.env`` locally) and call the
same services the functions do, with the dependencies the functions build. This module is the
one place in ``cli`` that imports ``shared`` beyond what it prints.
"""

from __future__ import annotations

from typing import Any


def bootstrap_workspace(*, name: str, plan: str = "pro") -> dict[str, Any]:
    # Imported here: the Google clients take a second to load and the HTTP commands need none.
    from shared import bootstrap
    from shared.services import accounts

    return accounts.bootstrap_workspace(bootstrap.deps(), name=name, plan=plan)


def reencrypt_secrets(*, workspace_id: str | None, page_size: int) -> dict[str, Any]:
    from shared import bootstrap
    from shared.services import integrations

    return integrations.reencrypt_secrets(
        bootstrap.deps(), page_size=page_size, workspace_id=workspace_id
    )
