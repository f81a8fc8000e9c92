"""Fixtures the provider tests share.

Each module starts its own simulator (its ``sim`` fixture, with the models and endpoints it
needs); these build on it, once per module: ``control`` drives that simulator, ``client`` is
the pooled loopback client the endpoints call through. ``fresh_simulator`` resets the
simulator's faults and recorded requests before each test of the modules that ask for it
(``pytestmark = pytest.mark.usefixtures("fresh_simulator")``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.server import Simulator
from tests.providers import SimControl, loopback_client


@pytest.fixture(scope="module")
def control(sim: Simulator) -> Iterator[SimControl]:
    control = SimControl(sim)
    yield control
    control.close()


@pytest.fixture
def fresh_simulator(control: SimControl) -> None:
    control.reset()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with loopback_client() as client:
        yield client
