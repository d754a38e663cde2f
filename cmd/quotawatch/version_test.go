package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"testing"
)

// TestVersionFromLdflagsWinsAndKeepsTheRevision: a version set by make
// (-ldflags -X main.Version) is printed as given, with the build info's
// revision beside it, by `version --format json`.
func TestVersionFromLdflagsWinsAndKeepsTheRevision(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v1.2.3"
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"version", "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var v versionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != "v1.2.3" || v.Source != "ldflags" || v.Go == "" {
		t.Errorf("%+v: want v1.2.3 from ldflags", v)
	}

	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	read := func() (*debug.BuildInfo, bool) { return bi, true }
	if got := versionFrom("v1.2.3", read); got.Version != "v1.2.3" || got.Revision != "0123456789abcdef0123" || !got.Dirty {
		t.Errorf("ldflags with build info: %+v", got)
	}
	if got, want := versionFrom("dev", read).String(), "v0.4.0 (revision 0123456789ab, 2026-11-30T10:00:00Z, dirty, go1.26.8)"; got != want {
		t.Errorf("build info fallback: %q, want %q", got, want)
	}
	if got := versionFrom("dev", func() (*debug.BuildInfo, bool) { return nil, false }); got.Version != "(devel)" || got.Source != "buildinfo" {
		t.Errorf("no build info at all: %+v", got)
	}
}
