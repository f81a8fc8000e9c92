"""Which ids can name a stored document.

Every id this service hands out (UUIDs, ``tok_...``, ``tr_...``, ``b_...``) matches
:data:`ID_PATTERN`. Anything else cannot exist, so callers answer 404 without asking Firestore,
which would reject some such ids (``..``, ``__x__``, very long ones) as invalid arguments.
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def is_storable_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None
