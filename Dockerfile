# quotawatch in a container: a static binary on a distroless base, non-root,
# the OpenClaw state dir mounted read-only and the database on a volume.
#   docker build -t quotawatch .
#   docker run -d --name quotawatch \
#     -v /home/openclaw/.openclaw:/state:ro -v quotawatch-data:/data \
#     -v /etc/quotawatch/config.yaml:/etc/quotawatch/config.yaml:ro \
#     -e QUOTAWATCH_WHATSAPP_TOKEN quotawatch
# The config's sources use dir: /state and store.path: /data/quotawatch.db.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/quotawatch ./cmd/quotawatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/quotawatch /usr/local/bin/quotawatch
VOLUME ["/data"]
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/quotawatch", "--config", "/etc/quotawatch/config.yaml"]
CMD ["run"]
