# syntax=docker/dockerfile:1

# Countersign: a static binary on distroless. Build with
#   docker build --build-arg VERSION=$(git describe --tags --always) -t countersign .
# The image runs as the distroless "nonroot" user (65532), has CA
# certificates and time zone data, and no shell.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
# go.mod may name a newer 1.26 patch release than the image has.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/countersign ./cmd/countersign \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/countersign /countersign
# The working directory holds the SQLite default (sqlite:countersign.db)
# and is where countersign.yaml is looked for: mount a volume here, or use
# PostgreSQL and --config.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/countersign"]
CMD ["serve"]
