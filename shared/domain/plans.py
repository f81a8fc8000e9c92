"""Plans: what a workspace may do.

The product: "Paid plans can delete leaderboards. The free plan may lock deletion and limit
workspaces to a small number of leaderboards."
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    max_leaderboards: int | None
    can_delete_leaderboards: bool


def plan_for(name: str, *, free_max_leaderboards: int) -> Plan:
    if name == "free":
        return Plan("free", max_leaderboards=free_max_leaderboards, can_delete_leaderboards=False)
    return Plan(name, max_leaderboards=None, can_delete_leaderboards=True)
