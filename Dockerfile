# track2pipelines in a small image: the release binary only, run as a non-root user.
#
#   docker build -t track2pipelines:0.1.0 .
#   docker run --rm track2pipelines:0.1.0 --version
#
# The entry point is the binary, so the container's arguments are track2pipelines' own
# (`convert ...`, `send ...`); see docs/scale-out.md for Kubernetes and AWS Batch.

# Build stage: Debian 12 (bookworm) with the stable Rust toolchain (edition 2024 needs 1.85 or
# newer). cmake and clang are there for aws-lc-sys (TLS for HTTPS and the object stores) should
# it pick its CMake build.
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake clang pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin track2pipelines \
    && cp target/release/track2pipelines /track2pipelines \
    && /track2pipelines --version

# Runtime stage: distroless Debian 12 with glibc, libgcc and CA certificates, nothing else (no
# shell, no package manager); the `nonroot` tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /track2pipelines /usr/local/bin/track2pipelines
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/track2pipelines"]
CMD ["--help"]
