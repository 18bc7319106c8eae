# One image for the four Rhone services; each Deployment picks its service by command
# (`python -m services.facade`, `.translator`, `.sessions`, `.providers`), exactly as
# `make run` starts them. Build: `make image`.
#
# Dependencies come from requirements.lock (versions and hashes), the same file `make install`
# and so every test run installs from. Only wheels are installed: no compiler in any stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/rhone \
    && /opt/rhone/bin/pip install --require-hashes --only-binary=:all: --no-deps \
        -r /tmp/requirements.lock
WORKDIR /app
COPY rhone/ rhone/
COPY services/ services/
# Bytecode compiled now: the root filesystem is read-only at run time.
RUN /opt/rhone/bin/python -m compileall -q rhone services

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 rhone \
    && useradd --system --uid 10001 --gid rhone --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin rhone
COPY --from=build /opt/rhone /opt/rhone
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/rhone/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# facade (HTTP), translator, sessions, providers (gRPC)
EXPOSE 8080 50061 50062 50063
# Every service drains on SIGTERM (RHONE_SHUTDOWN_GRACE_S), then exits.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.facade"]
