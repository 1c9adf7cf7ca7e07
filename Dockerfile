# odoo-init on top of the official Odoo image.
#
#   docker build -t my-odoo .                                  # odoo:18
#   docker build --build-arg ODOO_IMAGE=odoo:17 -t my-odoo .
#
# Only the binary, into any other Odoo image:
#   COPY --from=ghcr.io/you/odoo-init /usr/local/bin/odoo-init /usr/local/bin/odoo-init
# or, from this Dockerfile's build stage:
#   docker build --target build -t odoo-init-build .
#   COPY --from=odoo-init-build /out/odoo-init /usr/local/bin/odoo-init
#   ENTRYPOINT ["/usr/local/bin/odoo-init"]
#   CMD []
#
# With a binary built beforehand (what the tests do, with the one they test;
# needs BuildKit, Docker's default builder, which skips the unused stage):
#   cargo build --release --locked --bin odoo-init
#   docker build --build-arg ODOO_INIT_BINARY=prebuilt -t my-odoo .

ARG ODOO_IMAGE=odoo:18
# Where the binary comes from: `build` (compiled below) or `prebuilt`.
ARG ODOO_INIT_BINARY=build

# Built exactly as the tests build it: release profile, the project's
# .cargo/config.toml (glibc, statically linked), no extra features. The
# result runs on any Linux image, whatever its libc.
FROM rust:1-bookworm AS build
ARG TARGETARCH=amd64
WORKDIR /src
COPY . .
RUN case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported architecture $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && cargo build --release --locked --bin odoo-init --target "$triple" \
 && mkdir -p /out && cp "target/$triple/release/odoo-init" /out/odoo-init

# The binary `cargo build --release` left in target/ (.dockerignore lets
# just that file through).
FROM scratch AS prebuilt
ARG ODOO_INIT_PREBUILT=target/x86_64-unknown-linux-gnu/release/odoo-init
COPY ${ODOO_INIT_PREBUILT} /out/odoo-init

FROM ${ODOO_INIT_BINARY} AS binary

FROM ${ODOO_IMAGE}
COPY --from=binary /out/odoo-init /usr/local/bin/odoo-init
# Nothing of odoo-init's own in /etc/odoo: users mount their config there
# (`-v ./config:/etc/odoo`). A maintenance script is theirs to add there
# (`/etc/odoo/run.sh`, read when present) or to name with MAINTENANCE_SCRIPT.
ENV MODE=RunOnly \
    STOP_TIMEOUT=25
USER odoo
ENTRYPOINT ["/usr/local/bin/odoo-init"]
# The base image's CMD ["odoo"] would reach Odoo as an argument: reset it.
CMD []
# Healthy while Odoo runs and answers /web/health (or JSON-RPC) on its own
# port; unhealthy at the gate, during an update, a restart or a stop
# (README, "Probes"). The start period covers a first install or update.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10m --retries=3 \
  CMD ["/usr/local/bin/odoo-init", "probe", "ready"]
