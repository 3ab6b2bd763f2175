"""Fixtures: a real featurestore server over real Postgres and Redis.

The session's server is the featurestore binary (FEATURESTORE_BIN, default
.bin/featurestore of the repository, which make build writes) serving the
database of DATABASE_URL (and the cache of REDIS_URL, when set) on a free
loopback port, with a small demo shop seeded, computed and an API key for
it. Without DATABASE_URL the tests that need the server are skipped, unless
CI is set: there a missing service is a failure. make test-python provides
all of it.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

import grpc
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from featurestore_client import Client  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[3]

# SHOP is the demo shop the tests read: small, so that seeding and computing
# it take seconds, and large enough for a stream of many batches. The seed
# is deterministic, so a database that has it already is reused as is.
SHOP = "pytest-shop"
SEED_ARGS = ["--products", "40", "--customers", "60", "--orders", "80", "--events", "6000", "--days", "90"]
KEY_NAME = "pytest-client"
# WAIT is how long a server may take to start on a loaded machine.
WAIT = 120.0


def _need(what: str) -> None:
    msg = f"{what}; make test-python provides it"
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """Server is a featurestore serve process the tests talk to."""

    binary: str
    addr: str
    api_key: str
    shop: str
    log_path: pathlib.Path
    args: Tuple[str, ...] = ()
    cert: Optional[pathlib.Path] = None
    proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--addr", self.addr, "--metrics-addr", "", "--migrate=false", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        host, port = self.addr.rsplit(":", 1)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=5).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"featurestore serve did not listen on {self.addr} within {WAIT}s; see {self.log_path}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, target: str = "", **kw) -> Client:
        return Client(target or self.addr, api_key=kw.pop("api_key", self.api_key), **kw)


def _run(binary: str, args: List[str]) -> str:
    res = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail(f"featurestore {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}", pytrace=False)
    return res.stdout


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    if not os.environ.get("DATABASE_URL"):
        _need("DATABASE_URL is not set")
    binary = os.environ.get("FEATURESTORE_BIN") or str(REPO / ".bin" / "featurestore")
    if not os.access(binary, os.X_OK):
        _need(f"no featurestore binary at {binary} (make build, or set FEATURESTORE_BIN)")
    _run(binary, ["migrate"])
    _run(binary, ["seed-demo", "--shop", SHOP, "--if-empty", *SEED_ARGS])
    _run(binary, ["compute", "--shop", SHOP])
    out = _run(binary, ["keys", "create", "--name", KEY_NAME, "--shops", SHOP, "--scopes", "read,export,compute", "--replace"])
    key = out.strip().splitlines()[-1].strip()
    srv = Server(
        binary=binary,
        addr=f"127.0.0.1:{_free_port()}",
        api_key=key,
        shop=SHOP,
        log_path=tmp_path_factory.mktemp("server") / "serve.log",
    )
    srv.start()
    yield srv
    srv.stop()
    _run(binary, ["keys", "revoke", KEY_NAME])


@pytest.fixture(scope="session")
def tls_server(server, tmp_path_factory):
    """tls_server serves the same database over TLS, with a self-signed
    certificate for localhost and 127.0.0.1 (its PEM is tls_server.cert)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "tls.crt", d / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    srv = Server(
        binary=server.binary,
        addr=f"127.0.0.1:{_free_port()}",
        api_key=server.api_key,
        shop=server.shop,
        log_path=d / "serve.log",
        args=("--tls-cert", str(cert), "--tls-key", str(key)),
        cert=cert,
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture
def reference(server):
    """reference is the whole shop as one frame, read at the start of the
    test (a compute run elsewhere changes computed_at)."""
    with server.client() as c:
        df = c.to_pandas(server.shop)
    assert len(df) > 500, f"the test shop has only {len(df)} rows"
    return df
