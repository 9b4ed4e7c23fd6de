"""The ``fresh_project`` fixture: a temporary project outside the repository (see ``readme_project``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.user_testing.readme_project import FreshProject, user_env


@pytest.fixture
def fresh_project() -> Iterator[FreshProject]:
    base = Path(tempfile.mkdtemp(prefix="dss-user-project-"))
    try:
        root, home, tmp = base / "project", base / "home", base / "tmp"
        for folder in (root, home, tmp):
            folder.mkdir()
        yield FreshProject(root, home, tmp, user_env(home, tmp))
    finally:
        shutil.rmtree(base, ignore_errors=True)
