"""A pytest fixture that runs tokengate as a stand-in for a legacy token endpoint.

It starts the binary (TOKENGATE_BIN, or `tokengate` on PATH) with the demo routes and the test
kit's control listener, waits until /healthz answers, and resets the gateway between tests.
Copy this file into a client team's suite; see README.md, "Testing your client against
tokengate".
"""

import os
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    def __init__(self, base, control, token, log):
        self.base = base
        self.control_url = control
        self.log = log
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def url(self, path):
        return self.base + path

    def control(self, method, path, **kwargs):
        response = self.http.request(method, self.control_url + path, timeout=10, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def fault(self, route, action, times=1, **match):
        return self.control("POST", "/faults", json={"route": route, "times": times, "match": match, "action": action})

    def exchanges(self, **query):
        return self.control("GET", "/exchanges", params=query)

    def advance(self, by):
        return self.control("POST", "/clock/advance", json={"by": by})


@pytest.fixture(scope="session")
def tokengate_server():
    binary = os.environ.get("TOKENGATE_BIN", "tokengate")
    port, control_port = free_port(), free_port()
    token = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="tokengate-"))
    config = workdir / "gateway.toml"
    demo = (REPO / "fixtures" / "demo.toml").read_text()
    config.write_text(
        demo.replace('bind = "127.0.0.1:8080"', f'bind = "127.0.0.1:{port}"')
        + f'\n[control]\nbind = "127.0.0.1:{control_port}"\ntoken_env = "TOKENGATE_CONTROL_TOKEN"\n'
    )
    log = workdir / "gateway.log"
    env = dict(os.environ, TOKENGATE_CONTROL_TOKEN=token)
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "serve", "--config", str(config)], stdout=out, stderr=out, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("tokengate did not start:\n" + log.read_text())
        time.sleep(0.1)
    yield Gateway(base, f"http://127.0.0.1:{control_port}", token, log)
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture
def tokengate(tokengate_server):
    """The running gateway, emptied (store, faults, capture) and with its clock back to now."""
    tokengate_server.control("POST", "/reset")
    tokengate_server.control("DELETE", "/clock")
    return tokengate_server
