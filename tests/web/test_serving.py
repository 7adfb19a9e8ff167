"""Serving on a port another program holds: one line naming the port and `--port`, exit 2, nothing claims to serve."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import run_cli
from zhclip.cli import serving


@pytest.fixture
def taken_port():
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_on_a_taken_port_says_so_in_one_line(web_library, taken_port, processes):
    _, db, model = web_library
    result = run_cli("serve", "--db", db, "--model", model, "--port", taken_port, "--processes", processes)
    assert result.returncode == 2
    assert result.stdout == ""  # no "serving ... on http://..." before the port is ours
    taken = f"port {taken_port} on 127.0.0.1 is already in use; "
    taken += f"choose another with --port, e.g. --port {taken_port + 1}"
    assert result.stderr.splitlines() == [f"zhclip serve: error: {taken}"]  # one line, no traceback


def test_the_port_is_checked_before_the_library_is_opened(tmp_path, taken_port):
    result = run_cli("serve", "--db", tmp_path / "absent.db", "--port", taken_port)
    assert result.returncode == 2 and f"port {taken_port}" in result.stderr and "absent.db" not in result.stderr


def test_port_5000_names_macos_airplay(monkeypatch, taken_port):
    monkeypatch.setattr(serving, "MACOS_AIRPLAY_PORT", taken_port)
    with pytest.raises(serving.PortUnavailableError, match=f"port {taken_port} .*AirPlay Receiver.*--port"):
        serving.bind_port("127.0.0.1", taken_port)


def test_other_ports_do_not_mention_airplay(taken_port):
    with pytest.raises(serving.PortUnavailableError) as raised:
        serving.bind_port("127.0.0.1", taken_port)
    assert "AirPlay" not in str(raised.value)


def test_the_demo_says_a_taken_port_before_any_work(cli, tmp_path, taken_port):
    result = cli("demo", "--dir", tmp_path / "demo", "--port", taken_port)
    assert result.returncode == 2 and f"port {taken_port} on 127.0.0.1 is already in use" in result.stderr
    assert result.stdout == "" and not (tmp_path / "demo").exists(), "nothing generated, nothing claims to serve"


def test_an_address_not_on_this_machine_names_host_and_port():
    with pytest.raises(serving.PortUnavailableError, match=r"cannot serve on 192\.0\.2\.1:5000: .*--host or --port"):
        serving.bind_port("192.0.2.1", 5000)  # TEST-NET-1: assigned to no machine
