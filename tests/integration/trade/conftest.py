"""One regtest chain and three node processes (buyer, seller, arbiter) per test module."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import TradeWorld, open_world


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest) -> Iterator[TradeWorld]:
    # Not pytest's tmp_path: parallel pytest runs rotate those away, with the node logs.
    # The directory is kept (and named in the failure) when a test of the module failed.
    root = Path(tempfile.mkdtemp(prefix="umbra-trade-"))
    failed_before = request.session.testsfailed
    w = open_world(root)
    try:
        yield w
    finally:
        w.close()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(root, ignore_errors=True)
