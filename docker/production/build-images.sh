#!/bin/sh
# Build the three service images with plain BuildKit (no buildx needed with Docker 20.10's own client):
#   docker/production/build-images.sh [api] [analytics] [dashboard]
# For each: the `test` target (runs the service's pytest suite inside the build) then the runtime image.
# Environment:
#   BUILDER_IMAGE / RUNTIME_IMAGE  base images (default: the official python:3.11-slim-bookworm); the lab uses
#       127.0.0.1:5000/gmi-lab/python:3.11-bookworm and 127.0.0.1:5000/gmi-lab/python:3.11-slim-bookworm
#   IMAGE_PREFIX (default graphmemory/), TAG (default dev)   ->  graphmemory/api:dev, ...
#   PIP_CA_FILE  CA bundle for a TLS-intercepting proxy, passed as the `pip_ca` build secret
#                (default: /etc/ssl/certs/ca-certificates.crt when it exists)
#   PIP_INDEX_URL  optional package index for the builds
#   SKIP_TESTS=1  build only the runtime images
#   DOCKER  docker client (default: /usr/bin/docker if present — Debian's 20.10 client builds with BuildKit without
#           the buildx plugin — else docker)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}
BUILDER_IMAGE=${BUILDER_IMAGE:-python:3.11-slim-bookworm}
RUNTIME_IMAGE=${RUNTIME_IMAGE:-python:3.11-slim-bookworm}
IMAGE_PREFIX=${IMAGE_PREFIX:-graphmemory/}
TAG=${TAG:-dev}
PIP_CA_FILE=${PIP_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
REVISION=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

set -- ${*:-api analytics dashboard}
for svc in "$@"; do
  case $svc in
    api) df=Dockerfile.fastapi ;;
    analytics) df=Dockerfile.analytics ;;
    dashboard) df=Dockerfile.streamlit ;;
    *) echo "build-images: unknown service '$svc' (api, analytics, dashboard)" >&2; exit 2 ;;
  esac
  targets="test runtime"; [ "${SKIP_TESTS:-}" = 1 ] && targets=runtime
  for target in $targets; do
    tag="$IMAGE_PREFIX$svc:$TAG"; [ $target = test ] && tag="$IMAGE_PREFIX$svc:$TAG-test"
    echo "== $svc ($target) -> $tag"
    start=$(date +%s)
    set -- --target "$target" -f "$root/docker/production/$df" -t "$tag" \
      --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
      --build-arg REVISION="$REVISION" --build-arg CREATED="$CREATED"
    [ -s "$PIP_CA_FILE" ] && set -- "$@" --secret id=pip_ca,src="$PIP_CA_FILE"
    [ -n "${PIP_INDEX_URL:-}" ] && set -- "$@" --build-arg PIP_INDEX_URL="$PIP_INDEX_URL"
    DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain "$@" "$root/services" > "${TMPDIR:-/tmp}/gmi-build-$svc-$target.log" 2>&1 || {
      tail -40 "${TMPDIR:-/tmp}/gmi-build-$svc-$target.log"; echo "build-images: $svc $target failed (log: ${TMPDIR:-/tmp}/gmi-build-$svc-$target.log)" >&2; exit 1; }
    echo "   ok in $(( $(date +%s) - start ))s"
  done
done
