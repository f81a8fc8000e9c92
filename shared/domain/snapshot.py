"""What a run snapshots of its leaderboard, the digest of it, and what cannot change meanwhile.

A run evaluates a snapshot taken when it starts: the system prompt (and the prompt template's
version), the dataset configuration, the evaluation, the inference settings and its candidate
models. Its ranking is only true of that snapshot, so:

- while a run is active, the actions that would change one of those parts are refused (409
  ``run_in_progress``): a ranking is never published for a configuration it was not computed
  under. Renaming, schedules, the selection, dataset tokens and pushes are not part of it.
- every part has a digest; a ranking keeps the digests of its run's snapshot and is ``stale``
  once the leaderboard's current digests differ (``stale_parts`` names which).

A candidate's digest covers its id and endpoint config, not its label, its measured latencies
or the reference to its stored token (rotating a token changes no result).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from shared.clock import jsonable
from shared.domain.jsonl import canonical_json

# The leaderboard fields a run snapshots, in the order they are reported.
LEADERBOARD_PARTS = ("system_prompt", "dataset", "evaluation", "inference")
PARTS = ("system_prompt", "prompt_version", "dataset", "evaluation", "inference", "candidates")
# A candidate's config fields that do not change what the model answers.
_NOT_IN_DIGEST = ("secret_ref",)
# Dataset fields we store beside the client's config, never the client's to send: what
# validation found (GET), how many rows the last run read (written by runs themselves).
STORED_DATASET_FIELDS = ("validation", "rows_seen")


def dataset_config(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """The client's dataset configuration, without the fields we store beside it."""
    return {k: v for k, v in dataset.items() if k not in STORED_DATASET_FIELDS}


def digest(value: Any) -> str:
    """A short, stable digest of a JSON value (sorted keys, compact; datetimes as ISO 8601)."""
    return hashlib.sha256(canonical_json(jsonable(value)).encode()).hexdigest()[:16]


def candidates_digest(models: Iterable[Mapping[str, Any]]) -> str:
    """The digest of a set of candidate models (order-free): ids and endpoint configs."""
    entries = sorted(
        (
            model["id"],
            {k: v for k, v in model["config"].items() if k not in _NOT_IN_DIGEST},
        )
        for model in models
    )
    return digest([[model_id, config] for model_id, config in entries])


def config_parts(
    *,
    system_prompt: str,
    prompt_version: int | str,
    dataset: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    inference: Mapping[str, Any],
    candidates: str,
) -> dict[str, str]:
    """One digest per part of the snapshot (``candidates`` is :func:`candidates_digest`'s)."""
    return {
        "system_prompt": digest(system_prompt),
        "prompt_version": digest(prompt_version),
        "dataset": digest(dataset_config(dataset)),
        "evaluation": digest(dict(evaluation)),
        "inference": digest(dict(inference)),
        "candidates": candidates,
    }


def config_hash(parts: Mapping[str, str]) -> str:
    """The digest of the whole snapshot: equal exactly when every part is."""
    return digest({part: parts.get(part) for part in PARTS})


def stale_parts(computed_under: Mapping[str, str] | None, current: Mapping[str, str]) -> list[str]:
    """The parts of the configuration that changed since a ranking was computed.

    A ranking stored before digests existed (``None``) is reported stale in every part: nothing
    says what it was computed under.
    """
    if computed_under is None:
        return list(PARTS)
    return [part for part in PARTS if computed_under.get(part) != current.get(part)]


def changed_run_parts(current: Mapping[str, Any], changes: Mapping[str, Any]) -> list[str]:
    """The snapshot parts of a leaderboard that ``changes`` (field -> new value) would change.

    Sending a field with the value it already has changes nothing and is not a conflict.
    """
    return [
        part
        for part in LEADERBOARD_PARTS
        if part in changes
        and _comparable(part, changes[part]) != _comparable(part, current.get(part))
    ]


def _comparable(part: str, value: Any) -> str:
    if part == "dataset" and isinstance(value, Mapping):
        value = dataset_config(value)
    return canonical_json(jsonable(value))
