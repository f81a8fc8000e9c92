"""What a candidate model's call costs: its published price, else the price configured with it.

A candidate added from the OpenRouter catalog carries the catalog's price (``published``); a
custom or Hugging Face endpoint may carry one configured by the user (``config.pricing``).
Prices are dollars per million tokens. A provider that reports a call's cost itself
(``usage.cost``) is believed first; this is the fallback when it does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Price:
    prompt_per_million: float | None
    completion_per_million: float | None

    @classmethod
    def of(cls, candidate: Mapping[str, Any]) -> Price:
        """The price of a candidate model record (published first, configured second)."""
        published = candidate.get("published") or {}
        configured = (candidate.get("config") or {}).get("pricing") or {}
        return cls(
            published.get("prompt_price_per_million", configured.get("prompt_per_million")),
            published.get("completion_price_per_million", configured.get("completion_per_million")),
        )

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """Dollars for a call of these token counts; None when the price or the prompt's token
        count is unknown (a missing completion count counts as none)."""
        if self.prompt_per_million is None or self.completion_per_million is None:
            return None
        if prompt_tokens is None:
            return None
        spent = prompt_tokens * self.prompt_per_million
        spent += (completion_tokens or 0) * self.completion_per_million
        return spent / 1e6
