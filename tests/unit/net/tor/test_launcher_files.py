"""The files our own tor is started with and the documents it writes, parsed strictly."""

import base64
import os
from pathlib import Path

import pytest

from umbra.net.tor import TcpEndpoint, TorError
from umbra.net.tor._launcher import _read_port_file, log_tail, torrc_text
from umbra.net.tor._private_network import _usable_relays


def test_torrc_ties_tor_to_us_and_keeps_its_files_in_the_data_dir(tmp_path: Path) -> None:
    text = torrc_text(tmp_path / "my tor", socks=True, extra_lines=["TestingTorNetwork 1"])
    lines = text.splitlines()
    assert f'DataDirectory "{tmp_path}/my tor"' in lines
    assert f"__OwningControllerProcess {os.getpid()}" in lines
    assert "CookieAuthentication 1" in lines
    assert "SocksPort auto ExtendedErrors" in lines
    assert lines[-1] == "TestingTorNetwork 1"
    assert "SocksPort 0" in torrc_text(tmp_path, socks=False, extra_lines=()).splitlines()


def test_extra_lines_cannot_smuggle_more_options(tmp_path: Path) -> None:
    with pytest.raises(TorError):
        torrc_text(tmp_path, socks=True, extra_lines=["Nickname a\nControlPort 0.0.0.0:9051"])


def test_control_port_file(tmp_path: Path) -> None:
    port_file = tmp_path / "control-port"
    assert _read_port_file(port_file) is None
    port_file.write_text("PORT=127.0.0.1:9051\n")
    assert _read_port_file(port_file) == TcpEndpoint("127.0.0.1", 9051)
    for text in ["PORT=127.0.0.1:\n", "PORT=10.0.0.1:9051\n", "PORT=127.0.0.1:x\n", "\xff"]:
        port_file.write_text(text, encoding="latin-1")
        assert _read_port_file(port_file) is None


def test_log_tail_gives_the_last_lines_on_one_line(tmp_path: Path) -> None:
    log = tmp_path / "tor.log"
    log.write_text("".join(f"line {n}\n" for n in range(20)))
    assert log_tail(log, 3) == "line 17 | line 18 | line 19"
    assert log_tail(tmp_path / "missing") == "(no log)"


def test_usable_relays_need_running_guard_and_hsdir() -> None:
    def identity(fingerprint: str) -> str:
        return base64.b64encode(bytes.fromhex(fingerprint)).decode().rstrip("=")

    a, b, c = "AA" * 20, "BB" * 20, "CC" * 20
    status = "\n".join(
        [
            f"r auth0 {identity(a)} digest 2026-12-07 17:00:00 127.0.0.1 5000 5001",
            "s Authority Fast Guard HSDir Running Stable V2Dir Valid",
            f"r relay0 {identity(b)} digest 2026-12-07 17:00:00 127.0.0.1 5002 0",
            "s Fast Running Valid",
            f"r auth1 {identity(c)} digest 2026-12-07 17:00:00 127.0.0.1 5003 5004",
            "s Guard HSDir Running",
            "r broken !!!",
            "s Guard HSDir Running",
        ]
    )
    assert _usable_relays(status) == {a, c}
