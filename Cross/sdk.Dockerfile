# The target image swift-sdk-generator copies the Swift SDK's sysroot from: the official Swift
# Debian 12 image for arm64 plus the system libraries GemmaEdge's C shims link.
#   docker build --platform linux/arm64 -t gemma-edge-sdk-base -f Cross/sdk.Dockerfile --build-arg SWIFT=6.3.1 .
# SWIFT must be the version of the toolchain that will cross-compile (swift --version); check
# that the tag swift:$SWIFT-bookworm exists on Docker Hub.
ARG SWIFT=6.1
FROM swift:${SWIFT}-bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsentencepiece-dev libpng-dev libgpiod-dev \
 && rm -rf /var/lib/apt/lists/*
