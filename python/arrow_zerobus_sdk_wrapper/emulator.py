"""The local Zerobus emulator: real gRPC and HTTP endpoints that land rows in real Delta
tables, so everything can be tried with no Databricks account.

``start()`` runs the ``zerobus-emulator`` program, which is its own package::

    pip install 'arrow-zerobus-sdk-wrapper[emulator]'    # or: cargo install --path emulator

>>> from arrow_zerobus_sdk_wrapper import emulator
>>> with emulator.start() as emu:                                # doctest: +SKIP
...     emu.create_table("main.default.events", "id BIGINT NOT NULL, body STRING")
...     print(emu.endpoint, emu.unity_catalog_url, emu.dashboard_url)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, List, Optional, Union

__all__ = ["Emulator", "EmulatorNotFound", "find_program", "start"]

PROGRAM = "zerobus-emulator.exe" if os.name == "nt" else "zerobus-emulator"
CLIENT_ID = "local"
CLIENT_SECRET = "local-secret"
# The emulator's one SQL warehouse (GET /zerobus-emulator/v1/info names it).
WAREHOUSE_ID = "emulator-warehouse"


class EmulatorNotFound(FileNotFoundError):
    """The ``zerobus-emulator`` program is not installed where ``start()`` looks."""


def find_program(program: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
    """The ``zerobus-emulator`` program that ``start()`` runs: ``program`` if given, else
    ``$ZEROBUS_EMULATOR_BIN``, else the one pip installed into this Python environment
    (its scripts directory, also for ``pip install --user``), else the first on ``PATH``.

    Raises EmulatorNotFound, saying how to install it.
    """
    if program is None:
        program = os.environ.get("ZEROBUS_EMULATOR_BIN") or None
    if program is not None:
        path = Path(program)
        if not path.is_file():
            raise EmulatorNotFound(f"the zerobus-emulator program {str(path)!r} does not exist")
        return str(path)
    candidates = [sysconfig.get_path("scripts")]
    try:
        candidates.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for directory in candidates:
        if directory and (Path(directory) / PROGRAM).is_file():
            return str(Path(directory) / PROGRAM)
    found = shutil.which(PROGRAM)
    if found:
        return found
    raise EmulatorNotFound(
        "the zerobus-emulator program is not installed: `pip install "
        "'arrow-zerobus-sdk-wrapper[emulator]'` (or `pip install zerobus-emulator`; from a "
        "checkout, `cargo install --path emulator`), or set ZEROBUS_EMULATOR_BIN to its path"
    )


class Emulator:
    """A running emulator: its endpoint, Unity Catalog URL and credentials, and the tables
    in its warehouse (a directory of Delta tables, the emulator's only state).

    It is a ``zerobus-emulator`` process of this one: ``stop()`` (or leaving the ``with``
    block) ends it, and it ends by itself when this process exits.
    """

    def __init__(
        self,
        process: "subprocess.Popen[str]",
        endpoint: str,
        unity_catalog_url: str,
        warehouse: str,
        log_path: str,
    ) -> None:
        self._process = process
        self._endpoint = endpoint
        self._unity_catalog_url = unity_catalog_url
        self._warehouse = warehouse
        self._log_path = log_path
        self._token: Optional[str] = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The Zerobus (gRPC) endpoint, ``http://127.0.0.1:<port>``."""
        return self._endpoint

    @property
    def unity_catalog_url(self) -> str:
        """The workspace URL: token endpoint and Unity Catalog tables API."""
        return self._unity_catalog_url

    @property
    def dashboard_url(self) -> str:
        """The live dashboard (open it in a browser): tables, streams, rows/s, refusals."""
        return self._unity_catalog_url + "/"

    @property
    def client_id(self) -> str:
        """The OAuth client id the emulator accepts."""
        return CLIENT_ID

    @property
    def client_secret(self) -> str:
        """The OAuth client secret the emulator accepts."""
        return CLIENT_SECRET

    @property
    def warehouse(self) -> str:
        """The warehouse directory."""
        return self._warehouse

    @property
    def log_path(self) -> str:
        """The file the emulator's log goes to."""
        return self._log_path

    @property
    def pid(self) -> int:
        """The emulator process's id."""
        return self._process.pid

    def create_table(self, name: str, columns: str) -> str:
        """Create table ``name`` (``catalog.schema.table``) with ``columns`` in Databricks
        SQL spelling (``"id BIGINT NOT NULL, tags ARRAY<STRING>"``), as a workspace does:
        ``CREATE TABLE … USING DELTA`` on the emulator's SQL warehouse. Returns the
        directory of its Delta table (read it with ``deltalake.DeltaTable``).

        Raises ValueError with the emulator's reason (a bad type, an existing table).
        """
        answer = self._request(
            "POST",
            "/api/2.0/sql/statements",
            {
                "warehouse_id": WAREHOUSE_ID,
                "statement": f"CREATE TABLE {name} ({columns}) USING DELTA",
                "wait_timeout": "50s",
            },
        )
        status = answer.get("status", {})
        if status.get("state") != "SUCCEEDED":
            reason = status.get("error", {}).get("message") or json.dumps(status)
            raise ValueError(f"zerobus emulator: cannot create table {name}: {reason}")
        location = self.table_location(name)
        if location is None:
            raise RuntimeError(f"zerobus emulator: table {name} was created but is not listed")
        return location

    def table_location(self, name: str) -> Optional[str]:
        """The Delta directory of table ``name``, or None if there is no such table."""
        try:
            table = self._request("GET", "/api/2.1/unity-catalog/tables/" + urllib.parse.quote(name))
        except LookupError:
            return None
        location = table.get("storage_location", "")
        if location.startswith("file:"):
            return urllib.request.url2pathname(urllib.parse.urlparse(location).path).rstrip("/\\")
        return location

    def streams_opened(self) -> int:
        """Streams opened since start (reconnections included), over every table."""
        return sum(t.get("streams_opened", 0) for t in self.stats()["tables"].values())

    def stats(self) -> dict:
        """Per-table figures, as ``GET /zerobus-emulator/v1/stats`` shows them:
        ``{"tables": {"main.default.t": {"streams_opened", "streams_open",
        "records_acknowledged", "bytes_acknowledged", "seconds_paced", "lookups", …}}}``."""
        return self._request("GET", "/zerobus-emulator/v1/stats", authorized=False)

    def connection(self) -> dict:
        """The keyword arguments that point a ZerobusWrapper or ZerobusCatalog here."""
        return dict(
            client_id=self.client_id,
            client_secret=self.client_secret,
            unity_catalog_url=self.unity_catalog_url,
        )

    def wrapper(self, table_name: str, **options: Any) -> Any:
        """A ZerobusWrapper for ``table_name`` on this emulator."""
        from . import ZerobusWrapper

        return ZerobusWrapper(self.endpoint, table_name, **{**self.connection(), **options})

    def stop(self, timeout: float = 60.0) -> None:
        """Close every stream (acknowledging what is committed) and stop serving; a second
        call does nothing. Raises RuntimeError (with the end of its log) if the emulator
        does not end cleanly within ``timeout`` seconds."""
        process = self._process
        if process.poll() is None:
            if os.name == "nt":
                process.terminate()
            else:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise RuntimeError(
                    f"zerobus emulator did not stop within {timeout} s and was killed\n{_log_tail(self._log_path)}"
                ) from None
            code = process.returncode
            if code != 0:
                raise RuntimeError(f"zerobus emulator exited with {code}\n{_log_tail(self._log_path)}")
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Emulator(endpoint={self._endpoint!r}, unity_catalog_url={self._unity_catalog_url!r}, "
            f"warehouse={self._warehouse!r}, pid={self._process.pid})"
        )


    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._token_expires:
                basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                request = urllib.request.Request(
                    self._unity_catalog_url + "/oidc/v1/token",
                    data=b"grant_type=client_credentials&scope=all-apis",
                    headers={
                        "Authorization": "Basic " + basic,
                        "Content-Type": "application/x-www-form-urlencoded",
                    },
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.load(response)
                self._token = answer["access_token"]
                self._token_expires = time.monotonic() + max(1.0, answer.get("expires_in", 60) / 2)
            return self._token

    def _request(self, method: str, path: str, body: Any = None, authorized: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if authorized:
            headers["Authorization"] = "Bearer " + self._bearer()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._unity_catalog_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", errors="replace")
            if e.code == 404:
                raise LookupError(detail) from None
            raise RuntimeError(f"zerobus emulator: {method} {path}: HTTP {e.code}: {detail}") from None


def _log_tail(path: str, lines: int = 20) -> str:
    """The last ``lines`` lines of the emulator's log at ``path`` ("" if unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start(
    warehouse: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    host: str = "127.0.0.1",
    grpc_port: int = 0,
    http_port: int = 0,
    token_ttl_secs: Optional[float] = None,
    discard: bool = False,
    close_stream_after_records: Optional[int] = None,
    unavailable_rate: float = 0.0,
    stream_max_records_per_sec: int = 100_000,
    stream_max_bytes_per_sec: int = 100_000_000,
    program: Optional[Union[str, "os.PathLike[str]"]] = None,
    log_path: Optional[Union[str, "os.PathLike[str]"]] = None,
    startup_timeout: float = 60.0,
) -> Emulator:
    """Start an emulator: the ``zerobus-emulator`` program (see ``find_program``) as a
    process of this one, returned once it listens.

    Args:
        warehouse: Directory of its Delta tables (created if missing; a new temporary
            directory, kept after stop, when None). A restarted emulator on the same
            warehouse serves the same tables.
        host: Address to listen on (loopback by default).
        grpc_port: Zerobus port (0: any free port).
        http_port: Token and Unity Catalog port (0: any free port).
        token_ttl_secs: Lifetime of issued tokens (1 hour by default).
        discard: Acknowledge records without writing them (to measure clients).
        close_stream_after_records: Fault: close each stream after this many records.
        unavailable_rate: Fault: answer this share of requests with UNAVAILABLE.
        stream_max_records_per_sec: The service's per-stream quota of records per second
            (0: none), enforced by pacing: acknowledgements come later, nothing is
            refused. Each ZerobusWrapper opens more streams as they fill.
        stream_max_bytes_per_sec: The per-stream quota of record bytes per second.
        program: The program to run (default: ``find_program()``).
        log_path: Where its log goes (default: ``emulator.log`` in a new temporary
            directory; ``Emulator.log_path`` says which).
        startup_timeout: Seconds to wait for it to listen.

    Raises:
        EmulatorNotFound: the program is not installed (the message says how to).
        RuntimeError: it did not start (the message holds the end of its log).
    """
    binary = find_program(program)
    if warehouse is None:
        warehouse = tempfile.mkdtemp(prefix="zerobus-warehouse-")
    if log_path is None:
        log_path = os.path.join(tempfile.mkdtemp(prefix="zerobus-emulator-"), "emulator.log")
    args: List[str] = [
        binary,
        "--warehouse",
        os.fspath(warehouse),
        "--grpc-addr",
        _address(host, grpc_port),
        "--http-addr",
        _address(host, http_port),
        "--unavailable-rate",
        repr(float(unavailable_rate)),
        "--stream-max-records-per-sec",
        str(int(stream_max_records_per_sec)),
        "--stream-max-bytes-per-sec",
        str(int(stream_max_bytes_per_sec)),
        # The emulator ends when this process does (its stdin closes), however it ends.
        "--exit-on-stdin-close",
    ]
    if token_ttl_secs is not None:
        args += ["--token-ttl-secs", repr(float(token_ttl_secs))]
    if discard:
        args.append("--discard")
    if close_stream_after_records is not None:
        args += ["--close-stream-after-records", str(int(close_stream_after_records))]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    first: List[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(startup_timeout)
    line = first[0].rstrip("\r\n") if first else ""
    ready = re.fullmatch(r"ready grpc=(\S+) http=(\S+) warehouse=(.*)", line)
    if ready is None:
        process.kill()
        process.wait()
        tail = _log_tail(os.fspath(log_path))
        why = "did not say it was ready within {} s".format(startup_timeout) if not first else "did not start"
        raise RuntimeError(f"zerobus emulator ({binary}) {why}: {line!r}\n{tail}")
    grpc, http, directory = ready.groups()
    return Emulator(process, grpc, http, directory, os.fspath(log_path))
