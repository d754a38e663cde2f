package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// store pads an agent's sessions.json with generated Clawdbot-shaped
// entries (its real entries first, unchanged) up to a size, written as
// Clawdbot writes it: a temporary file renamed over the old one.
func store(args []string) error {
	fs := flag.NewFlagSet("qwcorpus store", flag.ContinueOnError)
	out := fs.String("out", "", "state directory (from qwcorpus -out)")
	agent := fs.String("agent", "", "agent whose sessions.json is padded (default: the agent of the first live file)")
	size := fs.Float64("size", 100, "file size, MiB")
	entries := fs.Int("entries", 10000, "sessions in the file")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("usage: qwcorpus store -out DIR [-agent A] [-size MB] [-entries N]")
	}
	if *agent == "" {
		exp, err := corpus.ReadExpected(filepath.Join(*out, "expected.json"))
		if err != nil {
			return err
		}
		if len(exp.Follow) == 0 {
			return errors.New("expected.json lists no live file; give -agent")
		}
		*agent = exp.Follow[0].Agent
	}
	path := filepath.Join(*out, "agents", *agent, "sessions", "sessions.json")
	keep := map[string]json.RawMessage{}
	if _, err := os.Stat(path); err == nil {
		if keep, err = corpus.ReadStoreEntries(path); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *out, err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	ss, err := corpus.WriteStore(f, corpus.StoreOptions{Agent: *agent, Entries: *entries, Bytes: int64(*size * (1 << 20)),
		StateDir: abs, Seed: *seed, Keep: keep})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", tmp, cerr)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "qwcorpus: %s: %d sessions (%d kept), %.1f MiB\n", path, len(ss), len(keep), float64(fi.Size())/(1<<20))
	fmt.Println(path)
	return nil
}

// rewriteResult is what `qwcorpus rewrite` prints (JSON) on stdout.
type rewriteResult struct {
	Rewrites    int     `json:"rewrites"`
	Bytes       int64   `json:"bytes"`
	WriteMedian float64 `json:"write_median_ms"`
}

// rewrite rewrites a sessions.json the way Clawdbot does on every message:
// the whole file to a temporary file, renamed over the old one, with one
// entry's updatedAt changed (round-robin over the entries).
func rewrite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("qwcorpus rewrite", flag.ContinueOnError)
	file := fs.String("file", "", "sessions.json to rewrite")
	every := fs.Duration("every", time.Second, "time between rewrites")
	dur := fs.Duration("duration", 30*time.Second, "how long to rewrite")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("usage: qwcorpus rewrite -file sessions.json [-every 1s] [-duration 30s]")
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("read %s: %w", *file, err)
	}
	// Where each entry's updatedAt digits are (13 of them: epoch ms).
	var stamps []int
	pat := []byte(`"updatedAt": `)
	for off := 0; ; {
		i := bytes.Index(data[off:], pat)
		if i < 0 {
			break
		}
		at := off + i + len(pat)
		if at+13 <= len(data) {
			if _, err := strconv.ParseInt(string(data[at:at+13]), 10, 64); err == nil {
				stamps = append(stamps, at)
			}
		}
		off = at
	}
	if len(stamps) == 0 {
		return fmt.Errorf("%s: no 13-digit updatedAt to change", *file)
	}
	res := rewriteResult{Bytes: int64(len(data))}
	var writes []time.Duration
	tick := time.NewTicker(*every)
	defer tick.Stop()
	end := time.After(*dur)
	tmp := fmt.Sprintf("%s.%d.tmp", *file, os.Getpid())
loop:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
		}
		copy(data[stamps[i%len(stamps)]:], strconv.FormatInt(time.Now().UnixMilli(), 10))
		t0 := time.Now()
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, *file); err != nil {
			return fmt.Errorf("replace %s: %w", *file, err)
		}
		writes = append(writes, time.Since(t0))
		res.Rewrites++
	}
	if len(writes) > 0 {
		sort.Slice(writes, func(i, j int) bool { return writes[i] < writes[j] })
		res.WriteMedian = float64(writes[len(writes)/2].Microseconds()) / 1000
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
