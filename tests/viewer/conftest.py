"""One set of viewer inputs per test session (they are read, never changed, by the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.viewer.fixtures import make_all


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp("viewer-inputs"))
