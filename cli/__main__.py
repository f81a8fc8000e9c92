"""``python -m cli``: the same as the ``drgero`` script."""

from cli.main import main

raise SystemExit(main())
