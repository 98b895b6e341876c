# syntax=docker/dockerfile:1
#
# The tc-agent image: the node agent's binary, nothing else.
#
# Build it from the repository root and push it to your registry:
#
#   docker build -t REGISTRY/tc-agent:TAG .
#   podman build -t REGISTRY/tc-agent:TAG .     # or: buildah build -t REGISTRY/tc-agent:TAG .
#   docker push REGISTRY/tc-agent:TAG
#
# Then point deploy/ at it: (cd deploy && kustomize edit set image tc-agent=REGISTRY/tc-agent:TAG)
# and run kubectl apply -k deploy/ (docs/deploy.md).
#
# The development machines have no container engine, so this file was
# written and reviewed there but never built there. Build it wherever
# Docker, Podman or Buildah runs. The RUN --mount cache needs BuildKit
# (Docker's default builder) or Buildah/Podman.

# Builder: Debian 12 (bookworm), the same glibc as the runtime image below.
# The workspace's rust-version is 1.89 (edition 2024): rust:1 tracks the
# newest stable 1.x, which is at least that.
FROM docker.io/library/rust:1-bookworm AS builder
WORKDIR /src
# The whole workspace: cargo resolves every member (datapath, actors,
# fixtures, devcluster, sim, tests) against Cargo.lock for --locked, even when it builds
# one binary; of fixtures/ that takes the crate, not its data directories.
# .cargo/config.toml carries the rustflags the tests ran with
# (--cfg tokio_unstable), so the image's binary is built as the tested one.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY datapath datapath
COPY actors actors
COPY fixtures/Cargo.toml fixtures/Cargo.toml
COPY fixtures/src fixtures/src
COPY devcluster devcluster
COPY sim sim
COPY tests tests
# The registry and target caches make rebuilds compile only what changed.
# The target directory is a cache mount and does not end up in the image,
# so the binary is copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p actors --bin tc-agent \
 && install -D -m 0755 target/release/tc-agent /out/tc-agent

# Runtime: glibc and libgcc only. The agent speaks OVSDB and OpenFlow
# itself (no ovs-vsctl or ovs-ofctl needed), does TLS with rustls (no
# OpenSSL), and writes nothing to disk. The default user is root: OVS's
# sockets are root's (mode 0750), and the DaemonSet drops every capability
# (deploy/daemonset.yaml).
FROM gcr.io/distroless/cc-debian12
LABEL org.opencontainers.image.title="tc-agent" \
      org.opencontainers.image.description="TrafficControl for Open vSwitch: the node agent" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/tc-agent /usr/local/bin/tc-agent
# The DaemonSet passes --config and --listen as args.
ENTRYPOINT ["/usr/local/bin/tc-agent"]
