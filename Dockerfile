# kpi-ledger: multi-stage build. The builder compiles the release binary; the runtime image is
# Debian slim with only the binary, CA certificates and curl (for the health check).
#
#   docker compose up --build        # see docker-compose.yml and README.md
#
# Builder and runtime share the Debian release so the binary's glibc matches.
# Plain Dockerfile syntax only (no BuildKit `RUN --mount`): Debian's docker-compose 1.x
# builds with the classic builder, which refuses BuildKit-only instructions.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release -p kpi-ledger \
    && install -m 0755 target/release/kpi-ledger /usr/local/bin/kpi-ledger

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/kpi-ledger --shell /usr/sbin/nologin kpi \
    && install -d -o kpi -g kpi /var/lib/kpi-ledger /var/lib/kpi-ledger-tokens
COPY --from=builder /usr/local/bin/kpi-ledger /usr/local/bin/kpi-ledger
# Baked-in defaults so the image runs on its own; docker-compose mounts ./config over them.
COPY config /etc/kpi-ledger
# Inside a container the server must listen beyond loopback, and the store lives on the volume.
# Tokens added while it runs (`kpi-ledger token add`, then SIGHUP) go to a file on a volume of
# their own: the config is read-only, and the store refuses a directory holding other files.
# There is no default token: README.md, "Tokens in the container", says how to make the first.
ENV KPI_LEDGER_SERVER__BIND=0.0.0.0:8080 \
    KPI_LEDGER_DATA_DIR=/var/lib/kpi-ledger \
    KPI_LEDGER_SERVER__TOKENS_FILE=/var/lib/kpi-ledger-tokens/tokens.toml
USER kpi
WORKDIR /var/lib/kpi-ledger
VOLUME ["/var/lib/kpi-ledger", "/var/lib/kpi-ledger-tokens"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
# SIGTERM starts the graceful shutdown: in-flight requests finish, the store is flushed.
# SIGHUP reloads the tokens (`docker kill -s SIGHUP CONTAINER`).
STOPSIGNAL SIGTERM
CMD ["kpi-ledger", "serve", "--config", "/etc/kpi-ledger/default.toml"]
