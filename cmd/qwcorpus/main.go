// Command qwcorpus writes a generated Clawdbot or OpenClaw state directory
// for quotawatch's benchmarks, checks quotawatch's usage against it, and
// measures live-follow latency.
//
//	qwcorpus [-kind clawdbot] -out DIR [-size MB] [-files N] [-agents N] [-peers N] [-seed S] [-month YYYY-MM]
//	qwcorpus -kind openclaw -out DIR [-size MB] ... [-compressed 0.30] [-cold] [-state-db] [-custom-location]
//	qwcorpus check -out DIR USAGE.json        (USAGE.json: `quotawatch usage --format json`; - = stdin)
//	qwcorpus live -out DIR -qw BIN -config FILE -db FILE [-rate 100] [-duration 20s] [-files 10]
//	qwcorpus store -out DIR [-agent A] [-size 100] [-entries 10000]   (pad a sessions.json with realistic entries)
//	qwcorpus rewrite -file sessions.json [-every 1s] [-duration 30s]   (rewrite it as Clawdbot does, by rename)
//	qwcorpus live -kind openclaw -out DIR -qw BIN -config FILE -db FILE [-rate 100] [-duration 20s] [-files 10]
//	        [-reset-every 200] [-reset-line-every 300] [-compact-every 250] [-delete-every 500] [-compact-min-age 2s]
//
// Generating writes the state (Clawdbot: <DIR>/agents/<agent>/sessions/*.jsonl
// and sessions.json; OpenClaw: <DIR>/agents/<agent>/agent/openclaw-agent.sqlite,
// archives and cold files), <DIR>/expected.json (exact totals per customer)
// and <DIR>/quotawatch.yaml (one customer per peer). `live -kind openclaw`
// writes to the databases the way OpenClaw does (its own WAL connection) and
// fails if quotawatch's usage is not exact or the writer met SQLITE_BUSY.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	args := os.Args[1:]
	switch {
	case len(args) > 0 && args[0] == "check":
		err = check(args[1:])
	case len(args) > 0 && args[0] == "live" && kindOf(args[1:]) == "openclaw":
		err = liveOpenClaw(ctx, args[1:])
	case len(args) > 0 && args[0] == "live":
		err = live(ctx, args[1:])
	case len(args) > 0 && args[0] == "store":
		err = store(args[1:])
	case len(args) > 0 && args[0] == "rewrite":
		err = rewrite(ctx, args[1:])
	case kindOf(args) == "openclaw":
		err = generateOpenClaw(args)
	default:
		err = generate(args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qwcorpus:", err)
		os.Exit(1)
	}
}

func generate(args []string) error {
	fs := flag.NewFlagSet("qwcorpus", flag.ContinueOnError)
	fs.String("kind", "clawdbot", "clawdbot or openclaw (see qwcorpus -kind openclaw -h)")
	out := fs.String("out", "", "state directory to create (required; must not exist or be empty)")
	size := fs.Float64("size", 0, "approximate transcript megabytes (MiB)")
	files := fs.Int("files", 0, "number of transcript files")
	agents := fs.Int("agents", 3, "number of agents")
	peers := fs.Int("peers", 0, "WhatsApp DM customers (default files/20)")
	seed := fs.Uint64("seed", 1, "random seed")
	month := fs.String("month", "2026-11", "billing month YYYY-MM every call falls in")
	tz := fs.String("timezone", "Asia/Riyadh", "billing timezone")
	density := fs.Float64("density", 1, "calls per MiB relative to the default mix (2: shorter turns, more tool loops)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*size <= 0 && *files <= 0) {
		fs.Usage()
		return errors.New("need -out and -size or -files")
	}
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty", *out)
	}
	start := time.Now()
	exp, err := corpus.Generate(corpus.Options{Dir: *out, Bytes: int64(*size * (1 << 20)), Files: *files, Agents: *agents,
		Peers: *peers, Seed: *seed, Month: *month, Timezone: *tz, Density: *density})
	if err != nil {
		return err
	}
	if err := exp.WriteExpected(filepath.Join(*out, "expected.json")); err != nil {
		return err
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *out, err)
	}
	if err := os.WriteFile(filepath.Join(*out, "quotawatch.yaml"), []byte(exp.Config(abs)), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	fmt.Fprintf(os.Stderr, "qwcorpus: %d files, %.1f MiB, %d lines, %d calls (%d usage lines), %d customers in %s\n",
		exp.Files, float64(exp.Bytes)/(1<<20), exp.Lines, exp.Calls, exp.UsageLines, len(exp.Totals), time.Since(start).Round(time.Millisecond))
	return nil
}

// usageRow is the part of `quotawatch usage --format json` compared.
type usageRow struct {
	Customer string `json:"customer"`
	corpus.Totals
}

func readUsage(r io.Reader) (map[string]corpus.Totals, error) {
	var rows []usageRow
	if err := json.NewDecoder(r).Decode(&rows); err != nil {
		return nil, fmt.Errorf("decode usage: %w", err)
	}
	got := map[string]corpus.Totals{}
	for _, r := range rows {
		got[r.Customer] = r.Totals
	}
	return got, nil
}

func check(args []string) error {
	fs := flag.NewFlagSet("qwcorpus check", flag.ContinueOnError)
	out := fs.String("out", "", "generated state directory (holds expected.json)")
	tol := fs.Float64("tolerance", 1e-6, "cost tolerance in USD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 1 {
		return errors.New("usage: qwcorpus check -out DIR USAGE.json")
	}
	exp, err := corpus.ReadExpected(filepath.Join(*out, "expected.json"))
	if err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if p := fs.Arg(0); p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("open usage: %w", err)
		}
		defer f.Close()
		r = f
	}
	got, err := readUsage(r)
	if err != nil {
		return err
	}
	if err := exp.Compare(got, *tol); err != nil {
		return fmt.Errorf("usage differs from expected.json:\n%w", err)
	}
	fmt.Fprintf(os.Stderr, "qwcorpus: usage matches expected.json (%d customers)\n", len(exp.Totals))
	return nil
}
