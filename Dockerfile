# The vertex-launcher image: a locked, dev-dependency-free virtualenv on a slim Python base, run as a numeric
# non-root user with a read-only root filesystem. Built by `docker build .` for real and by `make image-smoke`
# (buildah, local Debian base passed as BASE_IMAGE) here. Kubernetes runs `vertex-launcher run`.

# Python 3.12 on Debian bookworm, pinned by digest. To bump: `docker buildx imagetools inspect
# python:3.12-slim-bookworm` and copy the index digest. Any Debian-style base with python3 (+ venv) works.
ARG BASE_IMAGE=python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254

# --- builder: resolve nothing, install exactly uv.lock ------------------------------------------------------
FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION=0.13.8
# Bytecode is compiled once, at -OO (docstrings and asserts stripped: ~12 MiB less peak memory per run, measured in
# docs/benchmarks.md), and the runtime sets PYTHONOPTIMIZE=2 to load exactly those files.
# SOURCE_DATE_EPOCH makes the compiled bytecode hash-checked instead of mtime-checked, so it stays valid
# whatever a builder does to file times when copying between stages (1980: the oldest time a wheel can hold).
# UV_SYSTEM_CERTS: trust the platform CA store like pip does (a build behind a TLS-inspecting proxy mounts
# its bundle there at build time; nothing is copied into the image).
ENV SOURCE_DATE_EPOCH=315532800 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_SYSTEM_CERTS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer only changes when the lock does.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --no-install-project
COPY src/ src/
# --no-editable installs the project as a wheel: /app/.venv alone is the whole application.
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable \
    && /app/.venv/bin/python -OO -m compileall -q -j 0 /app/.venv/lib

# --- runtime: the same base, the venv, nothing else ---------------------------------------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="vertex-launcher" \
      org.opencontainers.image.description="Run Vertex AI CustomJobs and PipelineJobs from a Kubernetes CronJob" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled in the builder; the pod's root filesystem is read-only, so never try to write more.
# HOME=/tmp: the numeric user has no passwd entry and /tmp is the only writable place (an emptyDir in k8s).
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONOPTIMIZE=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# Owned by root and not writable by the runtime user.
COPY --from=builder --chown=0:0 /app/.venv /app/.venv
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["vertex-launcher"]
CMD ["run"]
