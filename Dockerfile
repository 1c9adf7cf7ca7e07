# odoo-init on top of the official Odoo image, from a binary built before:
#
#   cargo build --release --locked --bin odoo-init
#   docker build -t my-odoo .                                  # odoo:18
#   docker build --build-arg ODOO_IMAGE=odoo:17 -t my-odoo .
#
# Any builder will do (BuildKit or Docker's legacy one, with or without
# buildx): every stage below is used. Without Rust on the build machine,
# compile in Docker first (Dockerfile.build, needs the `rust` image):
#
#   docker build -f Dockerfile.build -t odoo-init-build .
#   docker build --build-arg ODOO_INIT_BINARY=odoo-init-build -t my-odoo .
#
# Only the binary, into any other Odoo image:
#   COPY --from=odoo-init-build /out/odoo-init /usr/local/bin/odoo-init
#   ENTRYPOINT ["/usr/local/bin/odoo-init"]
#   CMD []

ARG ODOO_IMAGE=odoo:18
# Where the binary comes from: `prebuilt` (the file below) or an image
# holding /out/odoo-init (`odoo-init-build`, made by Dockerfile.build).
ARG ODOO_INIT_BINARY=prebuilt

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
# Pods of UPDATE=changed (the default) hash Odoo's addons at every start.
# An image whose addons are final can carry their checksums instead; add,
# in the image that puts the last addon in place (docs/modes-and-state.md,
# "The image's checksums file"):
#   RUN ["/usr/local/bin/odoo-init", "write-checksums", "/usr/local/share/odoo-init-checksums.json", "--langs", "en_US"]
#   ENV ADDONS_CHECKSUMS_FILE=/usr/local/share/odoo-init-checksums.json
USER odoo
ENTRYPOINT ["/usr/local/bin/odoo-init"]
# The base image's CMD ["odoo"] would reach Odoo as an argument: reset it.
CMD []
# Healthy while Odoo runs and answers /web/health (or JSON-RPC) on its own
# port; unhealthy at the gate, during an update, a restart or a stop
# (docs/commands.md, "Probes"). The start period covers a first install or update.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10m --retries=3 \
  CMD ["/usr/local/bin/odoo-init", "probe", "ready"]
