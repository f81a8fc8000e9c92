"""An OpenRouter- and Hugging Face Hub-compatible model-provider simulator (a real HTTP server).

Used by the tests and by the local stack when no ``OPENROUTER_API_KEY`` is set. Point
``OPENROUTER_BASE_URL`` at ``<base_url>/api/v1`` and ``HF_ENDPOINT`` at ``<base_url>``; nothing
else in the backend changes. See :mod:`simulator.server` for the Python API and
``simulator/default.yaml`` for the configuration format.
"""
