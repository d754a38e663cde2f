# quotawatch — see README.md. Every target works on a fresh clone.
GO       ?= go
BIN      ?= bin/quotawatch
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.Version=$(VERSION)
FUZZTIME ?= 5s

.PHONY: all build test lint unit fuzz-short fuzz demo bench bench-go bench-binary bench-sessions bench-openclaw bench-history bench-floor clean

all: build

# A static binary, as the Dockerfile builds it: nothing here needs cgo, and
# a dynamically linked one maps libc and the loader too (~1.5 MiB of `run`'s
# idle RSS; docs/BENCHMARKS.md Round 10). The tests keep cgo: -race needs it.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/quotawatch

## test: formatting, vet, the whole suite with the race detector, a short fuzz run.
test: lint unit fuzz-short

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzClawdbot$$' -fuzztime $(FUZZTIME) ./parser
	$(GO) test -run '^$$' -fuzz '^FuzzJSONL$$' -fuzztime $(FUZZTIME) ./parser

## fuzz: a longer fuzz run (FUZZTIME=10m make fuzz).
fuzz: FUZZTIME = 2m
fuzz: fuzz-short

## demo: build, backfill the bundled sample into a temporary database, print usage.
demo: build
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cp -r testdata/clawdbot-sample "$$tmp/state"; chmod -R u+w "$$tmp/state"; \
	  echo "== quotawatch backfill $$tmp/state"; \
	  ./$(BIN) --config testdata/demo.yaml --db "$$tmp/demo.db" backfill --no-progress "$$tmp/state" && \
	  echo && echo "== quotawatch usage --month 2026-11" && \
	  ./$(BIN) --config testdata/demo.yaml --db "$$tmp/demo.db" usage --month 2026-11 && \
	  cp -r testdata/openclaw-sample2/state "$$tmp/openclaw"; chmod -R u+w "$$tmp/openclaw"; \
	  echo && echo "== quotawatch backfill $$tmp/openclaw (OpenClaw 2026.9.6: SQLite, compressed rows, windows, cold files)" && \
	  ./$(BIN) --config testdata/openclaw-demo2.yaml --db "$$tmp/openclaw.db" backfill --no-progress "$$tmp/openclaw" && \
	  echo && echo "== quotawatch usage --month 2026-11" && \
	  ./$(BIN) --config testdata/openclaw-demo2.yaml --db "$$tmp/openclaw.db" usage --month 2026-11

## bench: Go benchmarks and the whole-binary benchmarks (results: docs/BENCHMARKS.md).
bench: bench-go bench-binary bench-sessions bench-openclaw bench-history bench-floor

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-binary: build
	BIN=$(BIN) bash scripts/bench.sh

## bench-sessions: a 100 MiB sessions.json rewritten every second under `run`, and backfill with it.
bench-sessions: build
	BIN=$(BIN) bash scripts/bench-sessions.sh

## bench-openclaw: OpenClaw states (20/50/300 MiB, ~30 % compressed) beside ccusage, live follow, WAL, idle CPU.
bench-openclaw: build
	BIN=$(BIN) bash scripts/bench-openclaw.sh

## bench-history: backfill of sparse and dense corpora beside ccusage; run's memory and catch-up over 9.5k/38k/150k files.
bench-history: build
	BIN=$(BIN) bash scripts/bench-history.sh

## bench-floor: backfill beside ccusage with the SQLite writer's CPU per run: how fast a backfill can be at all.
bench-floor: build
	BIN=$(BIN) bash scripts/bench-floor.sh

clean:
	rm -rf bin
