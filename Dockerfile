# syntax=docker/dockerfile:1
# Samtale's server: a multi-stage build, run as an unprivileged user in a
# small Debian image. The web app (web/dist, committed) is built into the
# binary. docs/OPERATIONS.md explains the deployment this image is for.
#
#   docker build -t samtale-server .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p samtale-server \
    && install -D -m 0755 target/release/samtale-server /out/samtale-server

FROM debian:bookworm-slim AS runtime
# CA roots for the eID brokers' keys and the notification webhook (TLS).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/samtale --create-home samtale
COPY --from=build /out/samtale-server /usr/local/bin/samtale-server
USER 10001:10001
WORKDIR /var/lib/samtale
ENV SAMTALE_LISTEN=0.0.0.0:8080 \
    SAMTALE_DATA_DIR=/var/lib/samtale \
    SAMTALE_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/samtale"]
# Ready when the database answers (bash's /dev/tcp: no curl in the image).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/samtale-server"]
