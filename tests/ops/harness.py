"""Runs the real daemon (``python -m bot run``) as a subprocess for the operations tests: a temp config with
its state in a temp directory, an API port of its own, and logs captured to files."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
POLICY = REPO / "config" / "policy.yaml"
DEMO_KEY = re.compile(r"demo API key: (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything that would change the daemon's behaviour from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEWIRE_", "NOTIFY_SOCKET", "WATCHDOG_", "LISTEN_", "CREDENTIALS_DIRECTORY"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def http(method: str, url: str, body: Any = None, *, key: str | None = None, timeout: float = 5.0,
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
    """(status, parsed JSON or text, headers); never raises for an HTTP error status."""
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if key:
        hdrs["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload, rh = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, payload, rh = exc.code, exc.read(), dict(exc.headers)
    text = payload.decode("utf-8", "replace")
    try:
        return status, json.loads(text), rh
    except ValueError:
        return status, text, rh


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, urllib.error.URLError) as exc:
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error {last_exc})"
                                                                            if last_exc else ""))


def relaxed_policy(directory: Path, sources: list[str]) -> Path:
    """config/policy.yaml with the sources' rate limits and loss breakers opened up, so that a feed at a few
    signals per second keeps trading for the length of a test (the demo's random signals lose often)."""
    policy = yaml.safe_load(POLICY.read_text())
    for name in sources:
        policy.setdefault("sources", {})[name] = {
            "rate": {"max": 10000, "per": "1m"},
            "breaker": {"window": 20, "min_win_rate": 0, "max_consecutive_losses": 10000, "cooldown": "1s"},
            **({"signal": {"min_confidence": 0}} if name != "demo" else {}),
        }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def base_config(state_dir: Path, port: int, *, rate: float = 2.0, account: dict | None = None,
                sources: list[dict] | None = None, strategies: list[dict] | None = None,
                **extra: Any) -> dict[str, Any]:
    sources = sources or [{"name": "demo", "kind": "websocket", "url": "embedded", "format": "native"}]
    names = [s["name"] for s in sources]
    config: dict[str, Any] = {
        "state_dir": str(state_dir),
        "log_level": "INFO",
        "api": {"listen": f"127.0.0.1:{port}", "demo_key": True},
        "accounts": {"main": account or {"venue": "sim", "url": None}},
        "sources": sources,
        "strategies": strategies or [{"name": "follow", "handler": "strategies.follow:Follow", "sources": names,
                                      "account": "main", "params": {"notional": "100"}}],
        "policy": str(relaxed_policy(state_dir.parent / f"{state_dir.name}-policy", names)),
        "feed": {"rate": rate},
    }
    config.update(extra)
    return config


class DaemonProcess:
    """One `python -m bot run` subprocess; `stop()` or `kill()` it (the `spawn` fixture does on teardown)."""

    def __init__(self, workdir: Path, config: dict[str, Any], *, env: dict[str, str] | None = None,
                 duration: float | None = None, name: str = "daemon"):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self.env = env if env is not None else clean_env()
        self.duration = duration
        host, _, port = config["api"]["listen"].rpartition(":")
        self.url = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._key: str | None = None

    def start(self) -> "DaemonProcess":
        cmd = [PYTHON, "-m", "bot", "run", "-c", str(self.config_path)]
        if self.duration is not None:
            cmd += ["--duration", str(self.duration)]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        return self

    # -- output -------------------------------------------------------------------------------------------

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines (stderr is not a TTY, so the daemon logs JSON)."""
        out = []
        for line in self.stderr().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.stderr().splitlines()[-n:])

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}; stderr tail:\n{self.tail()}\n"
                                 f"stdout:\n{self.stdout()[-2000:]}")

    def wait_ready(self, timeout: float = 30.0) -> "DaemonProcess":
        def ready() -> bool:
            self._check_alive()
            try:
                return http("GET", self.url + "/readyz", timeout=1)[0] == 200
            except (OSError, urllib.error.URLError):
                return False
        wait_for(ready, timeout, what=f"{self.url}/readyz; stderr tail:\n{self.tail()}")
        return self

    def demo_key(self, timeout: float = 5.0) -> str | None:
        """The key printed as `demo API key: <key>` on stdout (settings.api.demo_key), or None."""
        if self._key:
            return self._key
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = DEMO_KEY.search(self.stdout())
            if match:
                self._key = match.group(1)
                return self._key
            if not self.running:
                break
            time.sleep(0.1)
        return None

    def get(self, path: str, *, key: str | None = None, auth: bool = True, **kw: Any) -> tuple[int, Any]:
        status, body, _ = http("GET", self.url + path, key=(key or self._key) if auth else None, **kw)
        return status, body

    def post(self, path: str, body: Any = None, *, key: str | None = None, **kw: Any) -> tuple[int, Any]:
        status, payload, _ = http("POST", self.url + path, body if body is not None else {}, key=key or self._key,
                                  **kw)
        return status, payload

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL after `timeout`. Returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def metric_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    from bot.obs.client import parse_metrics
    return parse_metrics(text)


def sample(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for lbl, v in samples.get(name, []) if all(lbl.get(k) == val for k, val in labels.items()))


def run_client(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """`tradewire <args>` as a subprocess (the way an operator runs it)."""
    return subprocess.run([PYTHON, "-m", "bot", *args], cwd=REPO, env=env if env is not None else clean_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


_SIM_SCRIPT = """
import asyncio, json, sys
from bot.sim import SimConfig, SimServer
async def main():
    config = SimConfig(**json.loads(sys.argv[1]))
    async with SimServer(config) as sim:
        print("sim ready", sim.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


class SimProcess:
    """A simulated exchange in its own process (so its state outlives daemon restarts); `stop()` it."""

    def __init__(self, workdir: Path, **config: Any):
        self.port = config.setdefault("port", free_port())
        config.setdefault("host", "127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"sim-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([PYTHON, "-c", _SIM_SCRIPT, json.dumps(config)], cwd=REPO,
                                         env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        wait_for(self._up, 20, what=f"simulator at {self.url}")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"simulator exited: {self.log_path.read_text()[-2000:]}")
        try:
            return http("GET", self.url + "/_sim/state", timeout=1)[0] == 200
        except (OSError, urllib.error.URLError):
            return False

    def state(self) -> dict[str, Any]:
        return http("GET", self.url + "/_sim/state")[1]

    def set_price(self, symbol: str, price: str) -> None:
        status, body, _ = http("POST", self.url + "/_sim/price", {"symbol": symbol, "price": price})
        assert status == 200, body

    def stop(self) -> None:
        terminate(self.proc)


def require_api(daemon: DaemonProcess, *routes: str) -> str:
    """The daemon's demo API key, after checking that the API serves `routes` (GET paths)."""
    key = daemon.demo_key(timeout=5)
    assert key is not None, "`api.demo_key: true` printed no `demo API key: <key>` line on stdout (SPEC §1)"
    for route in routes:
        status, body = daemon.get(route, key=key)
        assert status == 200, (route, status, body)
    return key


def client_env(key: str | None) -> dict[str, str]:
    env = clean_env()
    if key:
        env["TRADEWIRE_API_KEY"] = key
    return env
