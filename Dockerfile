# syntax=docker/dockerfile:1
#
# One image with the seven services and kafka-tool; the command picks the service:
#
#   docker build -t commerce .
#   docker run --rm -e HTTP_ADDR=0.0.0.0:8081 -e KAFKA_BROKERS=kafka:9092 \
#     -e DATABASE_URL=postgres://… commerce auth
#
# Every setting is an environment variable (docs/architecture.md#configuration);
# docker-compose.kafka.yml and deploy/k8s set them for a whole platform.

ARG RUST_VERSION=1.95

# --- toolchain, librdkafka's build dependencies and cargo-chef ---------------------
FROM rust:${RUST_VERSION}-bookworm AS chef
# rdkafka is built with its default features: rdkafka-sys compiles the bundled
# librdkafka with its own ./configure and make (no cmake, no OpenSSL, no SASL) and
# links the system zlib found by pkg-config. So the build needs a C compiler, make,
# pkg-config and zlib's headers, and the binaries need libz.so.1 at run time. The
# rust image has them already; naming them keeps the build working if its base changes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked
WORKDIR /src

# --- the dependency recipe: changes only when a Cargo.toml or Cargo.lock does ------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- dependencies (cached layer), then the workspace ------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked \
        --bin gateway --bin auth --bin catalog --bin order --bin inventory --bin payment \
        --bin cart \
        --bin kafka-tool \
    && mkdir /out \
    && cp target/release/gateway target/release/auth target/release/catalog \
          target/release/order target/release/inventory target/release/payment \
          target/release/cart \
          target/release/kafka-tool /out/

# --- the runtime: slim Debian, no toolchain, not root -----------------------------
FROM debian:bookworm-slim
# zlib1g: librdkafka's compression; ca-certificates: TLS to managed brokers and
# databases; curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 commerce \
    && useradd --system --uid 10001 --gid commerce --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin commerce
COPY --from=builder /out/ /usr/local/bin/
USER 10001:10001
# Services default to 127.0.0.1, which nothing outside the container reaches: listen on
# every interface. Set HTTP_ADDR per service to keep the ports of ./dev (8080-8085).
ENV HTTP_ADDR=0.0.0.0:8080 \
    RUST_LOG=info
EXPOSE 8080
# Ready, not just alive: /readyz answers 200 once the service's store answers and its
# consumer groups have assigned it partitions (the gateway: once it knows auth's key).
# The port is the one HTTP_ADDR names.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${HTTP_ADDR##*:}/readyz" || exit 1
CMD ["gateway"]
