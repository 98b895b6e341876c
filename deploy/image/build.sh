#!/usr/bin/env bash
#
# Builds the tc-agent image as an OCI image layout without a container
# engine or a registry: the development machines and CI have neither, so
# the image is assembled with umoci from this machine's own files. It is
# the runtime stage of the top-level Dockerfile (distroless/cc-debian12 plus
# the binary) cut down to exactly what the binary loads.
#
#   deploy/image/build.sh OUTDIR
#
# OUTDIR is replaced by an OCI layout (oci-layout, index.json, blobs/) in
# which the image is tagged $IMAGE_NAME:$IMAGE_TAG (tc-agent:0.1.0).
#
# Environment:
#   TC_AGENT_BIN       a release tc-agent already built (skips cargo)
#   CARGO_TARGET_DIR   where cargo builds otherwise (~/.cache/tc-ovs/target)
#   IMAGE_NAME, IMAGE_TAG   the reference in OUTDIR/index.json
#   SOURCE_DATE_EPOCH  every timestamp in the image (HEAD's commit time)
#
# Use it with, for instance (podman run oci:OUTDIR:... would store the image
# under OUTDIR's path as its name, not as tc-agent):
#   skopeo copy oci:OUTDIR:tc-agent:0.1.0 containers-storage:localhost/tc-agent:0.1.0
#   podman run --rm localhost/tc-agent:0.1.0 --help
#
# Needs root: the layer's files must be owned by 0:0, which umoci takes from
# the files themselves.

set -euo pipefail
# Directory modes end up in the layer: a CI umask of 077 would give 0700.
umask 022

# deploy/kustomization.yaml names localhost/tc-agent:0.1.0, which is what
# podman calls an unqualified tc-agent:0.1.0 once loaded.
IMAGE_NAME=${IMAGE_NAME:-tc-agent}
IMAGE_TAG=${IMAGE_TAG:-0.1.0}
IMAGE_REF=$IMAGE_NAME:$IMAGE_TAG

die() {
    echo "build.sh: $*" >&2
    exit 1
}

[[ $# -eq 1 && -n $1 ]] || {
    echo "usage: $0 OUTDIR   (writes an OCI image layout tagged $IMAGE_REF)" >&2
    exit 2
}
out=$1
# umoci's --image and skopeo's oci: split "path:tag" at the first colon.
[[ $out != *:* ]] || die "OUTDIR must not contain ':' ($out)"
# OUTDIR is deleted first: refuse anything that is not a layout already.
if [[ -e $out ]] && [[ -n $(ls -A "$out") ]] && [[ ! -f $out/oci-layout ]]; then
    die "$out exists and is not an OCI layout; not replacing it"
fi
((EUID == 0)) || die "run as root (the image's files must be owned by root)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Every missing tool is reported with the Debian package that brings it,
# in one apt-get line.
missing=()
need() {
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need umoci umoci
need jq jq
need strip binutils
need ldd libc-bin
need dpkg-query dpkg
# The CA bundle is made from the package's own files (see below), so the
# package must be installed, not just some bundle present.
dpkg-query -W -f='${db:Status-Status}' ca-certificates 2>/dev/null | grep -qx installed \
    || missing+=(ca-certificates)
if ((${#missing[@]})); then
    echo "build.sh: missing tools; install them with:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
fi
if [[ -z ${TC_AGENT_BIN:-} ]] && ! command -v cargo >/dev/null 2>&1; then
    die "no cargo to build tc-agent with: install Rust, or set TC_AGENT_BIN to a release build"
fi

# ldd only works for the machine's own architecture and the libraries come
# from this machine: the image is always for the architecture it is built on.
case $(dpkg --print-architecture) in
    amd64) arch=amd64 ;;
    arm64) arch=arm64 ;;
    *) die "unsupported architecture $(dpkg --print-architecture)" ;;
esac

# One timestamp for every file, the config and the history, so that the
# same inputs give the same layer, config and manifest digests.
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null) \
        || die "set SOURCE_DATE_EPOCH (no git history to take HEAD's commit time from)"
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH is not a number: $SOURCE_DATE_EPOCH"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

if [[ -n ${TC_AGENT_BIN:-} ]]; then
    bin=$TC_AGENT_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tc-ovs/target}
    (cd "$repo" && cargo build --release --locked -p actors --bin tc-agent)
    bin=$CARGO_TARGET_DIR/release/tc-agent
fi
[[ -f $bin && -x $bin ]] || die "no executable at $bin"
version=$("$bin" --version) || die "$bin --version failed"
[[ $version == "tc-agent $IMAGE_TAG" ]] \
    || echo "build.sh: warning: the binary says '$version' but the tag is $IMAGE_TAG" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:$IMAGE_REF"
# The empty image is unpacked only so that repack turns the whole rootfs
# into one layer. umoci insert would need no bundle, but 0.4.7 writes its
# layer without the tar end-of-archive blocks, which GNU tar rejects.
umoci unpack --image "$out:$IMAGE_REF" "$work/bundle"
rootfs=$work/bundle/rootfs

# Copies a host file into the rootfs under the same path. Debian 12 is
# merged-/usr (/lib -> usr/lib, /lib64 -> usr/lib64, and the loader's
# /lib64 name is a further symlink), and ldd prints the names the loader
# asks for: each symlink met on the way is recreated as it is and then
# followed, so that the requested name and the real file both exist.
copy_in() {
    local path=$1 prefix="" target rest i
    local -a parts
    IFS=/ read -r -a parts <<<"${path#/}"
    for i in "${!parts[@]}"; do
        prefix+=/${parts[i]}
        [[ -L $prefix ]] || continue
        target=$(readlink "$prefix")
        if [[ ! -L $rootfs$prefix ]]; then
            mkdir -p "$rootfs$(dirname "$prefix")"
            ln -s "$target" "$rootfs$prefix"
        fi
        [[ $target == /* ]] || target=$(dirname "$prefix")/$target
        rest=$(IFS=/ && echo "${parts[*]:i+1}")
        # No directory before this one is a symlink, so resolving ".."
        # lexically (-s) gives what the kernel would.
        copy_in "$(realpath -m -s "$target${rest:+/$rest}")"
        return
    done
    [[ -f $path ]] || die "$path is not a regular file"
    install -D -m "$(stat -c %a "$path")" "$path" "$rootfs$path"
}

# Stripped into the image: the symbol tables are a quarter of the
# binary. The binary cargo left is not touched.
install -d "$rootfs/usr/local/bin"
strip --strip-all -o "$rootfs/usr/local/bin/tc-agent" "$bin"
chmod 0755 "$rootfs/usr/local/bin/tc-agent"

# The shared libraries and the dynamic loader, where ldd finds them here
# (linux-vdso has no file). glibc 2.34+ has the files and dns NSS modules
# inside libc.so.6, so name resolution needs no libnss_*.so.
mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
((${#libs[@]})) || die "ldd found no shared libraries in $bin"
for lib in "${libs[@]}"; do
    copy_in "$lib"
done

# TLS roots, used when a kubeconfig has no certificate-authority (the
# in-cluster config brings the cluster's CA). They are Debian's Mozilla set
# concatenated from the package's files the way update-ca-certificates
# does, not the host's /etc/ssl/certs/ca-certificates.crt: that one also
# holds every CA the machine trusts locally (/usr/local/share/ca-certificates,
# a proxy's for instance), which must not ship in an image.
mapfile -t certs < <(dpkg-query -L ca-certificates | grep '^/usr/share/ca-certificates/.*\.crt$' | LC_ALL=C sort)
((${#certs[@]})) || die "the ca-certificates package lists no certificates"
install -d "$rootfs/etc/ssl/certs"
# awk 1 ends every file with a newline, as update-ca-certificates' sed does.
awk 1 "${certs[@]}" >"$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$rootfs/etc/ssl/certs/ca-certificates.crt"

# Root only: the agent runs as 0:0 because OVS's sockets are root's. With
# the entries, tools that map uid 0 to a name (ps in a debug container,
# the runtime's user lookup) find one.
echo 'root:x:0:0:root:/:/sbin/nologin' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"

# Left out on purpose, checked with strace on the agent in this rootfs:
# - /tmp or anything writable: the agent writes nothing to disk and the
#   DaemonSet mounts the root filesystem read-only.
# - /etc/nsswitch.conf, /etc/hosts, /etc/resolv.conf: with the DaemonSet's
#   arguments no name is resolved (it listens on 127.0.0.1, the in-cluster
#   config takes the API server's address from KUBERNETES_SERVICE_HOST, OVS
#   is on unix sockets). Should a kubeconfig name a host, the kubelet mounts
#   /etc/hosts and /etc/resolv.conf into every container, and glibc without
#   nsswitch.conf still resolves it: DNS first, then /etc/hosts.
# - /etc/ld.so.cache: the loader searches /lib/x86_64-linux-gnu without it.
# - /proc, /dev, /sys: the runtime creates their mount points.

# The image's files alone must be enough to start the binary: a library
# ldd missed fails here rather than on a node.
chroot "$rootfs" /usr/local/bin/tc-agent --version >/dev/null \
    || die "tc-agent does not start from the image's files alone"

find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

umoci repack --image "$out:$IMAGE_REF" \
    --history.created "$created" \
    --history.created_by "deploy/image/build.sh: tc-agent, its shared libraries, CA roots" \
    "$work/bundle"
# The config mirrors deploy/daemonset.yaml's container, which sets only
# args (and NODE_NAME, RUST_LOG). The labels are the Dockerfile's.
umoci config --image "$out:$IMAGE_REF" \
    --no-history \
    --created "$created" \
    --architecture "$arch" --os linux \
    --config.entrypoint /usr/local/bin/tc-agent \
    --config.user 0:0 \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.workingdir / \
    --config.label org.opencontainers.image.title=tc-agent \
    --config.label "org.opencontainers.image.description=TrafficControl for Open vSwitch: the node agent" \
    --config.label org.opencontainers.image.licenses=Apache-2.0 \
    --config.label "org.opencontainers.image.version=$IMAGE_TAG"
umoci gc --layout "$out"
# umoci writes blobs 0600; readable blobs let a non-root skopeo or podman
# (or a CI artifact upload) use the layout too.
chmod -R a+rX "$out"

manifest=$(jq -r --arg ref "$IMAGE_REF" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $ref) | .digest' \
    "$out/index.json")
compressed=$(jq '[.layers[].size] | add' "$out/blobs/sha256/${manifest#sha256:}")
uncompressed=$(find "$rootfs" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
echo "$IMAGE_REF: $(numfmt --to=iec-i --suffix=B "$compressed") compressed ($compressed bytes)," \
    "$(numfmt --to=iec-i --suffix=B "$uncompressed") uncompressed rootfs ($uncompressed bytes)"
echo "manifest $manifest"
