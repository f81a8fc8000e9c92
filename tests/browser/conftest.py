"""Fixtures of the browser tests: Chromium (or a skip saying how to install it) and two page
origins, one a test can allow and one it does not (see ``tests/browser_support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser_support import PageServer, require_chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; every test that uses it is skipped, with how to install it, if absent."""
    return require_chromium()


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    """The page origin, ``http://127.0.0.1:PORT``: the one a test configures as allowed."""
    with PageServer() as server:
        yield server


@pytest.fixture(scope="session")
def other_page_server() -> Iterator[PageServer]:
    """A second origin, ``http://localhost:PORT2`` (another host name and port): not allowed."""
    with PageServer(host="localhost") as server:
        yield server
