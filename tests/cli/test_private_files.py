"""Everything the `umbra` command writes is owner-only, whatever umask it was started with."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .conftest import Runner


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Start the commands with a common, loose umask (files 0644, directories 0755)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def loose(root: Path) -> list[str]:
    paths = [root, *root.rglob("*")]
    return [
        f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p}" for p in paths if p.lstat().st_mode & 0o077
    ]


def test_profile_listing_and_saved_images_are_owner_only(
    umbra: Runner, tmp_path: Path, loose_umask: None
) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    umbra("init")
    created = umbra(
        "listing", "create", "--json", "--title", "Red square", "--price", "0.1",
        "--category", "electronics", "--ships-from", "DE", "--shipping", "Post:DE:0.01",
        "--description", "A red square.", "--image", str(photo),
    ).json()  # fmt: skip
    out = tmp_path / "out" / "images"
    shown = umbra("listing", "show", created["id"][:8], "--save-images", str(out), "--json")
    assert shown.json()["saved_images"]
    data_dir: Path = umbra.data_dir  # type: ignore[attr-defined]
    assert loose(data_dir) == []
    assert loose(tmp_path / "out") == []  # a directory the user named: still only theirs
