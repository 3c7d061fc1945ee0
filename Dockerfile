# Multi-stage build: a static, cgo-free binary on a distroless base, run as a
# non-root user. Build: docker build -t cxbot .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/cxbot ./cmd/cxbot \
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
ENTRYPOINT ["/app/cxbot"]
CMD ["serve"]
