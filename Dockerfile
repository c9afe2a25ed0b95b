# The API image: dependencies built in a throw-away stage, a slim runtime running as an
# unprivileged user. Settings come from DISPATCH_* variables (see README, Configuration).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Pinned dependencies first (a layer that changes only with the lock), checked by hash;
# then the project itself, built with the pinned setuptools and adding nothing.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY simulator ./simulator
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation .
# The scheduler's compiled loops (numba), compiled once here into a cache the runtime user
# owns, instead of in every new container on its first plan (about 5 s).
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN /opt/venv/bin/python -c "import dispatch.routing.darp.alns_kernels, dispatch.routing.darp.alns_timing"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    NUMBA_CACHE_DIR=/opt/numba-cache
RUN useradd --system --uid 10001 --home-dir /app --create-home dispatch
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001 /opt/numba-cache /opt/numba-cache
WORKDIR /app
USER dispatch
# 8000: API, screens, websockets, /metrics; 5055: Traccar Client / OsmAnd phones.
EXPOSE 8000 5055
# SIGTERM drains (README, "Graceful restarts"); give it DISPATCH_DRAIN_S +
# DISPATCH_SHUTDOWN_TIMEOUT_S before a SIGKILL.
STOPSIGNAL SIGTERM
CMD ["dispatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
