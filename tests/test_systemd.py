"""The systemd units in systemd/: `systemd-analyze verify` is clean, and the settings the
daemon relies on (notify + watchdog, no restart on a config error, state and config
directories, sandboxing) are there.

systemd-analyze is a test requirement (.ci/install-deps.sh installs it): without it these
tests fail rather than skip, so a CI image that lost it cannot pass silently.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
SYSTEM_UNIT = UNITS / "clientwatch.service"
USER_UNIT = UNITS / "clientwatch-user.service"
BOTH = [SYSTEM_UNIT, USER_UNIT]


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze is not installed; it is needed to check the units in systemd/ "
                    "(run .ci/install-deps.sh, or apt-get install systemd)")
    return found


def directives(unit: Path) -> dict[str, list[str]]:
    """``Key -> [values]`` over all sections (systemd allows a key more than once)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def runnable_copy(unit: Path, directory: Path) -> Path:
    """The unit with ExecStart's program replaced by one that exists here; everything else kept."""
    script = Path(sys.executable).with_name("clientwatch")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "clientwatch.cli"]
    lines = []
    for line in unit.read_text().splitlines():
        if line.startswith("ExecStart="):
            args = line[len("ExecStart="):].split()
            line = "ExecStart=" + " ".join(program + args[1:])
        lines.append(line)
    copy = directory / unit.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


def verify(unit: Path, tmp_path: Path, user: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    cmd = [systemd_analyze()]
    if user:
        # a user manager needs a runtime directory; a private one works without a login session
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        cmd.append("--user")
    return subprocess.run([*cmd, "verify", str(unit)], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def complaints(result: subprocess.CompletedProcess[str], unit: Path) -> list[str]:
    """Lines about our unit; other units installed on the host may be noisy and are not ours."""
    return [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line or unit.stem in line]


@pytest.mark.parametrize("unit, user", [(SYSTEM_UNIT, False), (USER_UNIT, True)], ids=["system", "user"])
def test_systemd_analyze_verify_is_clean(unit: Path, user: bool, tmp_path: Path) -> None:
    copy = runnable_copy(unit, tmp_path)
    result = verify(copy, tmp_path, user)
    assert result.returncode == 0 and not complaints(result, copy), result.stdout + result.stderr


def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    """The check above is not vacuous: an unknown key and a missing program are reported."""
    copy = runnable_copy(SYSTEM_UNIT, tmp_path)
    copy.write_text(copy.read_text().replace("NoNewPrivileges=yes", "NoNewPrivileges=yes\nNoNewPrivilege=yes"))
    assert any("NoNewPrivilege" in line for line in complaints(verify(copy, tmp_path, False), copy))
    copy.write_text(SYSTEM_UNIT.read_text().replace("/usr/local/bin/clientwatch", "/nonexistent/clientwatch"))
    result = verify(copy, tmp_path, False)
    assert result.returncode != 0 or complaints(result, copy)


@pytest.mark.parametrize("unit", BOTH, ids=["system", "user"])
def test_the_service_talks_to_systemd_and_is_not_restarted_on_a_config_error(unit: Path) -> None:
    d = directives(unit)
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] and d["WatchdogSec"][0] not in ("0", "infinity")
    assert d["Restart"] == ["on-failure"]
    assert "3" in d["RestartPreventExitStatus"][0].split()
    (exec_start,) = d["ExecStart"]
    assert exec_start.split()[-1] == "run" and "--config" in exec_start and "--once" not in exec_start
    assert d["StateDirectory"] == ["clientwatch"]
    assert d["UMask"] == ["0077"]


def test_the_system_unit_runs_as_its_own_user_with_its_config_directory() -> None:
    d = directives(SYSTEM_UNIT)
    assert d["User"] == ["clientwatch"] and d["Group"] == ["clientwatch"]
    assert d["ConfigurationDirectory"] == ["clientwatch"]
    assert "/etc/clientwatch/config.toml" in d["ExecStart"][0]
    assert d["ProtectHome"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("unit", BOTH, ids=["system", "user"])
def test_the_service_is_sandboxed(unit: Path) -> None:
    d = directives(unit)
    assert d["NoNewPrivileges"] == ["yes"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["ProtectHome"] and d["ProtectHome"][0] in ("yes", "read-only", "tmpfs")
    assert d["PrivateTmp"] == ["yes"]
    families = set(d["RestrictAddressFamilies"][0].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}  # IMAP, SMTP, sd_notify; nothing else
