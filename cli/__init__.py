"""The ``drgero`` command line (``drgero <command>``, or ``python -m cli <command>``).

    bootstrap --name NAME [--plan pro|free]   create a workspace and its first admin token
                                              (free: 3 leaderboards at most, none deleted)
    tokens list [--json] [--page-size N]      the workspace's API tokens with their budget,
                                              spend and what remains, as a table
    tokens show TOKEN_ID [--json]             one API token, spend and budget included
    tokens create --name NAME [--scope S ...] [--budget-usd X]
                  [--expires-in-days D | --expires-at ISO]
                                              a new API token (printed once, as JSON)
    tokens revoke TOKEN_ID                    revoke an API token
    secrets re-encrypt [--workspace WS] [--page-size N]
                                              re-encrypt every stored integration and
                                              endpoint token with the first key of
                                              DRGERO_SECRETS_KEY (after a rotation)

``bootstrap`` and ``secrets`` talk to Firestore directly (the first is how the first
credential comes to exist, the second needs the keys), so they run where the functions'
environment is set: ``source .dev.env`` locally. They live apart, in ``cli.direct``.

Rotating ``DRGERO_SECRETS_KEY``: set it to ``NEW,OLD`` (the first key encrypts, all decrypt)
and deploy; run ``secrets re-encrypt`` (idempotent: rerun it until it reports
``"unreadable": 0``; it is paged and safe while the service runs); then set it to ``NEW``.
Exit status 1 when some secret no configured key can read (they are listed, left untouched).

The ``tokens`` commands talk to the HTTP API, as any client would (``cli.http``). Each takes
``--api-base URL`` (default: ``$API_BASE``) and ``--token TOKEN`` (default: ``$DRGERO_TOKEN``,
a ``workspace:admin`` token); ``make dev`` writes both into ``.dev.env``. The token used for
auth is never printed.

Exit status: 0 done; 1 the API refused (``error <code>: <message>`` on stderr), the token is
not found, or the API cannot be reached; 2 a usage error (bad arguments, no base URL, no token).

Modules: ``main`` (arguments and commands), ``http`` (the API client and its errors),
``output`` (tables and JSON), ``direct`` (the two commands that reach Firestore).
"""
