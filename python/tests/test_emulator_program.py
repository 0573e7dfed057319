"""`arrow_zerobus_sdk_wrapper.emulator`: the zerobus-emulator program run as a child
process: finding it, its failures, its HTTP conveniences, and its end with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from deltalake import DeltaTable

from arrow_zerobus_sdk_wrapper import emulator

pa = pytest.importorskip("pyarrow")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split(" ", 1)[0] != "Z"
    except OSError:
        return True


def test_a_missing_program_is_named_with_how_to_install(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-emulator"
    with pytest.raises(emulator.EmulatorNotFound, match="no-such-emulator"):
        emulator.start(tmp_path / "wh", program=missing)
    monkeypatch.setenv("ZEROBUS_EMULATOR_BIN", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(emulator.sysconfig, "get_path", lambda *a, **k: str(tmp_path))
    with pytest.raises(emulator.EmulatorNotFound) as e:
        emulator.find_program()
    assert "pip install 'arrow-zerobus-sdk-wrapper[emulator]'" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_a_program_that_does_not_start_is_reported_with_its_log(tmp_path):
    fake = tmp_path / "fake-emulator"
    fake.write_text("#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(RuntimeError) as e:
        emulator.start(tmp_path / "wh", program=fake)
    assert "did not start" in str(e.value) and "cannot bind: address in use" in str(e.value)


def test_tables_dashboard_and_stats_over_http(tmp_path):
    with emulator.start(tmp_path / "wh", stream_max_records_per_sec=0) as emu:
        location = emu.create_table("main.default.http", "id BIGINT NOT NULL, tags ARRAY<STRING>")
        assert os.path.isdir(os.path.join(location, "_delta_log")), location
        assert emu.table_location("main.default.http") == location
        assert emu.table_location("main.default.nope") is None
        with pytest.raises(ValueError, match="already exists"):
            emu.create_table("main.default.http", "id BIGINT NOT NULL")
        with pytest.raises(ValueError, match="TIMEZONE"):
            emu.create_table("main.default.bad", "id BIGINT, t TIMEZONE")
        with emu.wrapper("main.default.http") as w:
            w.send_batch_sync(pa.table({"id": pa.array(range(100), pa.int64()), "tags": [["a"]] * 100}))
        stats = emu.stats()["tables"]["main.default.http"]
        assert stats["records_acknowledged"] == 100, stats
        assert emu.streams_opened() == stats["streams_opened"] >= 1
        with urllib.request.urlopen(emu.dashboard_url, timeout=10) as page:
            assert "zerobus" in page.read().decode().lower()
        assert os.path.getsize(emu.log_path) > 0
    assert DeltaTable(location).to_pyarrow_table().num_rows == 100
    assert not alive(emu.pid)
    emu.stop()  # a second stop does nothing


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_the_emulator_ends_with_its_python_process(tmp_path, how):
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from arrow_zerobus_sdk_wrapper import emulator
        emu = emulator.start({str(tmp_path / "wh")!r})
        print(emu.pid, flush=True)
        sys.stdin.readline()
        if {how!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(0)  # no stop(), no atexit: the emulator must notice by itself
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    pid = int(parent.stdout.readline())
    assert alive(pid)
    parent.stdin.write("go\n")
    parent.stdin.flush()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the emulator {pid} outlived its parent ({how})")
