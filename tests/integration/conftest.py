"""Fixtures several integration modules share; each module says what it needs in a constant.

- ``board``: the inference modules' ranked leaderboard, built once per module from its
  ``BOARD = (workspace name prefix, {model: accuracy, best first})``; every run of such a
  module evaluates each candidate in one shard (``one_shard_runs_in_module``: those modules
  need rankings, not sharding, and it halves a run's time), and its datasets may be small
  (``small_datasets``). ``healthy_models``, asked
  for by those modules (``pytestmark = pytest.mark.usefixtures("healthy_models")``), makes the
  board's simulated models healthy before and after each test.
- ``leaderboard``: for the runs modules, ``(api, leaderboard id)`` of a new consolidated PUSH
  leaderboard of the module's ``ROWS`` answered rows, in the test's workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.inference_support import ROWS, Board, healed, ranked_board
from tests.runs_support import answered_push_leaderboard, one_shard_runs


@pytest.fixture(scope="module")
def one_shard_runs_in_module(deps) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        one_shard_runs(patch, deps.settings)
        yield


@pytest.fixture(scope="module")
def small_datasets(deps) -> Iterator[None]:
    """Candidates may be added to the ranked leaderboards of ``tests.inference_support``,
    whose datasets hold ``ROWS`` rows, fewer than the product's 100."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deps.settings, "push_min_rows_for_models", ROWS)
        yield


@pytest.fixture(scope="module")
def board(
    request: pytest.FixtureRequest, stack, deps, one_shard_runs_in_module, small_datasets
) -> Board:
    prefix, accuracies = request.module.BOARD
    return ranked_board(stack, deps, prefix, accuracies)


@pytest.fixture
def healthy_models(request: pytest.FixtureRequest) -> Iterator[None]:
    _, accuracies = request.module.BOARD
    with healed(*accuracies):
        yield


@pytest.fixture
def leaderboard(request: pytest.FixtureRequest, workspace: Workspace) -> tuple[Any, str]:
    return workspace.api, answered_push_leaderboard(workspace.api, request.module.ROWS)
