"""How request bodies are typed on the wire, for every request model.

Request models validate strictly (``ConfigDict(strict=True)``), as the JSON a client sends:
a number is a JSON number, never ``false`` or ``"5"``; a boolean is ``true`` or ``false``,
never ``1`` or ``"yes"``; an integer is still a number where a fraction is allowed (``12``
for ``12.0``), and a number with a zero fraction (``5.0``) is the integer, as JSON Schema's
``integer`` says (``shared.web.http.parse`` reads it so; ``5.5`` is not). JSON has no
timestamps: a :data:`Timestamp` field takes an ISO 8601 string. Stored documents read back
from Firestore are not request bodies and keep pydantic's lax defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

Timestamp = Annotated[datetime, Field(strict=False)]
