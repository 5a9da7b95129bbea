# streammask's container image: the proxy and its CLI (`streammask run`, `validate`, `connect apply`...), and
# nothing else. Built in two stages: the first turns the project and its pinned dependencies into wheels,
# the second installs only those wheels into a clean runtime, so no sources, pip cache or build tools stay.
#   docker build -t streammask .        (BuildKit, Docker's default builder since 23.0: RUN --mount below)
# Reproducible: the base image is pinned by version, every Python dependency by docker/constraints.txt, and
# only binary wheels are accepted (confluent-kafka, cryptography, orjson, pydantic-core and fastavro publish
# manylinux wheels): a dependency that would need a compiler fails the build instead of pulling one in.
# The `demo` extra (a local test broker) is not installed.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY docker/constraints.txt /constraints.txt
COPY pyproject.toml README.md ./
COPY streammask ./streammask
RUN pip wheel --wheel-dir /wheels --constraint /constraints.txt --only-binary=:all: .

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The wheels are mounted for this one step, never copied into a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels streammask \
    && pip uninstall --yes setuptools wheel \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin streammask
# Config and policy are mounted here (the compose file: config/ and policies/); the masking key comes from the
# environment (STREAMMASK_KEY), never from the image.
WORKDIR /etc/streammask
USER 10001:10001
# /metrics, /healthz, /readyz (the config's `metrics`, port 9400 by default)
EXPOSE 9400
# /healthz answers 503 when the consume loop has not turned for 60 s; no curl in the image, Python does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9400/healthz', timeout=4)"]
ENTRYPOINT ["streammask"]
CMD ["run", "--config", "/etc/streammask/streammask.yaml"]
