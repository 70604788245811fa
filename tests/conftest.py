"""Shared test paths. Area-specific fixtures live in their own test modules."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found next to the project (looked in {SHARED})")
    return SHARED


@pytest.fixture(scope="session")
def seed_dir(shared_dir) -> Path:
    return shared_dir / "fixtures" / "seed_format"


@pytest.fixture(scope="session")
def coco_mini_dir(shared_dir) -> Path:
    return shared_dir / "data" / "coco_mini"


@pytest.fixture(scope="session")
def omz_xml(shared_dir) -> Path:
    return shared_dir / "models" / "omz_hpe_0001" / "human-pose-estimation-0001.xml"
