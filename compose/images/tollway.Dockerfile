# Tollway's Python services in one image; the command picks the service:
#   tollway control-plane | python -m ext_proc | python -m control_plane.demo.mock_upstream
# BASE_IMAGE: python:3.11-slim-bookworm with a registry, tollway/base:bookworm without one
# (compose/build-images.sh makes it with debootstrap). Wheels come from the build context: no network.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS deps
COPY wheels/deps /wheels/deps
RUN python3 -m venv /opt/tollway \
    && /opt/tollway/bin/pip install --quiet --no-index --no-cache-dir /wheels/deps/*.whl

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --home-dir /var/lib/tollway --create-home tollway \
    && mkdir -p /var/lib/tollway/spool && chown -R tollway /var/lib/tollway
# The dependencies' layer stays cached while only Tollway's own (small) wheel changes.
COPY --from=deps /opt/tollway /opt/tollway
COPY wheels/tollway /tmp/tollway-wheel
RUN /opt/tollway/bin/pip install --quiet --no-index --no-cache-dir --no-deps /tmp/tollway-wheel/*.whl \
    && rm -rf /tmp/tollway-wheel
ENV PATH=/opt/tollway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TOLLWAY_EXT_PROC_SPOOL_DIR=/var/lib/tollway/spool
USER tollway
WORKDIR /var/lib/tollway
CMD ["tollway", "control-plane"]
