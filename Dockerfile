# Multi-stage build: a static, cgo-free binary on a distroless base, run as a
# non-root user. Build with the version stamped in (the build context has no
# .git for Go's own VCS stamping):
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t cxbot .
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.buildVersion=${VERSION}" -o /out/cxbot ./cmd/cxbot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/cxbot /app/cxbot
COPY configs /app/configs
# The embedded SQLite default needs a writable folder; production sets
# CXBOT_DATABASE_URL=postgres://… and CXBOT_REDIS_URL=redis://… instead.
COPY --from=build --chown=65532:65532 /out/data /data
ENV CXBOT_CONFIG_DIR=/app/configs \
    CXBOT_DATABASE_URL=/data/cxbot.db \
    CXBOT_HTTP_ADDR=:8080
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
# distroless has no shell or curl: the binary checks itself (GET /healthz on
# CXBOT_HTTP_ADDR, healthy on 200).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/app/cxbot", "healthcheck"]
ENTRYPOINT ["/app/cxbot"]
# serve --migrate: a fresh volume or database gets its schema, an existing one
# is upgraded (PostgreSQL replicas starting together take an advisory lock).
# Run `cxbot migrate` as a release step and drop --migrate to keep schema
# changes out of start-up.
CMD ["serve", "--migrate"]
