import os
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
BINARY = "/opt/tradewire/.venv/bin/tradewire"

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictRealtime": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "UMask": "0077",
}
LIFECYCLE = {
    "Type": "notify",
    "NotifyAccess": "main",
    "WatchdogSec": "30",
    "Restart": "on-failure",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "KillSignal": "SIGTERM",
}


def _service(path: Path) -> dict[str, list[str]]:
    """[Service] keys → every value given (systemd allows repeated keys, so configparser won't do)."""
    values: dict[str, list[str]] = {}
    section = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", ["tradewire.service", "tradewire@.service"])
def test_lifecycle_and_hardening_keys(name):
    service = _service(UNITS / name)
    for key, value in {**LIFECYCLE, **HARDENING}.items():
        assert service.get(key) == [value], key
    assert "@system-service" in service["SystemCallFilter"]
    for key in ("RestartSec", "TimeoutStopSec", "StateDirectory", "User"):
        assert key in service, key
    assert any(v.startswith("binance-key:/etc/tradewire/credentials/") for v in service["LoadCredential"])
    assert any(v.startswith("binance-secret:/etc/tradewire/credentials/") for v in service["LoadCredential"])


def test_exec_start_and_state_paths():
    single, template = _service(UNITS / "tradewire.service"), _service(UNITS / "tradewire@.service")
    assert single["ExecStart"] == [f"{BINARY} run -c /etc/tradewire/tradewire.yaml"]
    assert single["Environment"] == ["TRADEWIRE_STATE_DIR=%S/tradewire"]
    assert single["StateDirectory"] == ["tradewire"]
    assert template["ExecStart"] == [f"{BINARY} run -c /etc/tradewire/%i.yaml"]
    assert template["Environment"] == ["TRADEWIRE_STATE_DIR=%S/tradewire/%i"]
    assert template["StateDirectory"] == ["tradewire/%i"]


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "systemd"],
                       capture_output=True, timeout=600, check=False)  # fmt: skip
        found = shutil.which("systemd-analyze")
        if found:
            return found
    pytest.skip("systemd-analyze is not installed (apt-get install systemd) and could not be installed here")


@pytest.mark.parametrize(("source", "unit"), [("tradewire.service", "tradewire.service"),
                                              ("tradewire@.service", "tradewire@main.service")])  # fmt: skip
def test_systemd_analyze_verify(tmp_path, source, unit):
    analyze = _systemd_analyze()
    # verify checks that ExecStart is executable, and /opt/tradewire is not installed here: point it at a stand-in.
    binary = tmp_path / "tradewire"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    (tmp_path / source).write_text((UNITS / source).read_text().replace(BINARY, str(binary)))
    result = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / unit)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    # verify exits 0 despite unknown keys or unparsable values ("..., ignoring."), so its output must be empty too.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr + result.stdout
