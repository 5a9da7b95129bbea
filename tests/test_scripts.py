"""The helper scripts the README gives users, run for real."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (.ci/run installs it)")
def test_the_kcat_wrapper_reads_the_metadata_of_the_broker_debians_kcat_cannot_talk_to(kafka_broker: str) -> None:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "kcat.sh"), "-L", "-b", kafka_broker, "-m", "10"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"at {kafka_broker}" in proc.stdout
