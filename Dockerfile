# syntax=docker/dockerfile:1
# OSM Ops controller image: a static (musl) binary on distroless, running as non-root.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t osmops:dev .
# (No Docker engine runs on the project's build machines; this file is checked by review only.)

FROM rust:1.95-alpine AS build
ARG VERSION=dev
# build-base: a C compiler for ring (rustls) on musl.
RUN apk add --no-cache musl-dev build-base
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY benches benches
COPY tests tests
# The version is baked into the binary (`osmops --version` and the startup log line).
ENV OSMOPS_VERSION=${VERSION}
RUN cargo build --release --locked --no-default-features --bin osmops && strip target/release/osmops

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="osmops" \
      org.opencontainers.image.description="GitOps for Open Source MANO" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/osmops /usr/local/bin/osmops
USER 65532:65532
EXPOSE 8080 9090 9440
ENTRYPOINT ["/usr/local/bin/osmops"]
CMD ["controller"]
