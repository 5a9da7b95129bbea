"""Download a Kafka Connect plugin zip (Confluent Hub's layout: <name>/lib/*.jar), check its sha256 when one
is given, and put its jars into one directory. Build-time helper of docker/connect-avro/Dockerfile; standard
library only. Usage: python fetch_plugin.py URL SHA256_OR_EMPTY DEST_DIR"""

import hashlib
import io
import sys
import urllib.request
import zipfile
from pathlib import Path


def main(url: str, sha256: str, dest: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as resp:
        data = resp.read()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256.lower():
        sys.exit(f"sha256 mismatch for {url}: expected {sha256}, got {digest}")
    if not sha256:
        print(f"WARNING: {url} not checked; pin it with --build-arg AVRO_CONVERTER_SHA256={digest}")
    out = Path(dest)
    out.mkdir(parents=True)
    jars = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            parts = Path(info.filename).parts
            if len(parts) == 3 and parts[1] == "lib" and parts[2].endswith(".jar"):
                (out / parts[2]).write_bytes(archive.read(info))
                jars += 1
    if not jars:
        sys.exit(f"no <plugin>/lib/*.jar in {url}")
    print(f"{jars} jars from {url} in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
