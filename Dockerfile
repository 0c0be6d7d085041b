# syntax=docker/dockerfile:1
# Multi-stage build: compile with the locked dependency set, ship only the
# binary on a minimal glibc base (SQLite is bundled into the binary).

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
ARG DEADMAN_REVISION=unknown
ENV DEADMAN_REVISION=${DEADMAN_REVISION}
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && mkdir -p /out/data \
    && cp target/release/deadman /out/deadman

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/deadman /usr/bin/deadman
# The example config is the default; mount your own over /etc/deadman.
COPY examples/deadman.toml /etc/deadman/deadman.toml
COPY examples/secrets /etc/deadman/secrets
COPY --from=build --chown=65534:65534 /out/data /data
USER 65534
EXPOSE 10070
VOLUME ["/data"]
ENTRYPOINT ["/usr/bin/deadman"]
CMD ["--config.file=/etc/deadman/deadman.toml", "--storage.path=/data"]
