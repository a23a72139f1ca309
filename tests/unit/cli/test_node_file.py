"""node.toml's [limits] table: connection caps an operator may set, checked strictly."""

from pathlib import Path

import pytest

from umbra.cli._node_cmds import NODE_FILE, node_config
from umbra.core import UsageError


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / NODE_FILE).write_text(text, encoding="utf-8")
    return node_config(tmp_path, (), ())


def test_limits_reach_the_node_config(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[limits]\nmax_connections_per_ip = 2\nlimit_loopback = true\nmax_connections = 9\n",
    )
    assert config.limits.max_connections_per_ip == 2
    assert config.limits.limit_loopback is True
    assert config.limits.max_connections == 9
    assert config.limits.max_connections_per_range == 32  # the default stays


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    limits = node_config(tmp_path, (), ()).limits
    assert (limits.max_connections_per_ip, limits.max_inbound_connections) == (8, 192)
    assert limits.limit_loopback is False


@pytest.mark.parametrize(
    "text",
    [
        "[limits]\nmax_strikes = 1\n",  # not a connection cap
        "[limits]\nmax_connections_per_ip = 0\n",
        "[limits]\nmax_connections_per_ip = 1.5\n",
        "[limits]\nmax_connections_per_ip = true\n",
        "[limits]\nlimit_loopback = 1\n",
        "limits = 3\n",
    ],
)
def test_bad_limits_are_refused_with_one_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError) as info:
        _config(tmp_path, text)
    assert "\n" not in str(info.value) and NODE_FILE in str(info.value)


def test_thumbnails_and_catalog_cap_reach_the_node_config(tmp_path: Path) -> None:
    config = _config(tmp_path, 'thumbnails = "when-shown"\n[limits]\nmax_catalogs = 50000\n')
    assert config.storage.thumbnails == "when-shown"
    assert config.limits.max_catalogs == 50_000
    # The command line wins over the file.
    given = node_config(tmp_path, (), (), None, "with-catalog")
    assert given.storage.thumbnails == "with-catalog"


def test_thumbnails_default_to_auto(tmp_path: Path) -> None:
    config = node_config(tmp_path, (), ())
    assert config.storage.thumbnails == "auto"
    assert config.storage.prefetch_thumbnails(0)
    assert not config.storage.prefetch_thumbnails(1_000_000)  # 10,000 sellers of 100


@pytest.mark.parametrize("text", ['thumbnails = "never"\n', "thumbnails = true\n"])
def test_bad_thumbnails_are_refused_with_one_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError) as info:
        _config(tmp_path, text)
    assert "\n" not in str(info.value) and "thumbnails" in str(info.value)
