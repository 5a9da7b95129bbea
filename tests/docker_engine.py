"""Whether a Docker engine answers here, and which Compose command to use: the tests that build the image or
bring the kit's stack up run where one does (a laptop) and are skipped with the reason elsewhere (the CI
machines have the docker client and no daemon)."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def engine_missing() -> str | None:
    """None when ``docker info`` reaches an engine, else why these tests cannot run."""
    if shutil.which("docker") is None:
        return "no docker client on this machine"
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr.strip().splitlines() or ["no server version"])[-1]
        return f"no Docker engine answers `docker info` ({reason})"
    return None


@functools.cache
def compose_command() -> list[str] | None:
    """``docker compose`` (v2) when the plugin is there, else Debian's ``docker-compose`` (1.29), else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None
