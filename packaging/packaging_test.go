// Package packaging holds the systemd unit and checks it with the real
// systemd-analyze where the host has it.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdUnitVerifies(t *testing.T) {
	unit, err := filepath.Abs("quotawatch.service")
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Wants=network-online.target", "After=network-online.target", "RestartPreventExitStatus=2"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if n := strings.Count(string(body), "\nReadWritePaths="); n > 0 {
		t.Errorf("ReadWritePaths= appears %d times: StateDirectory= already makes /var/lib/quotawatch writable", n)
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the unit's syntax is not verified here")
	}
	// verify wants the ExecStart binary to exist; point it at a stand-in.
	dir := t.TempDir()
	bin := filepath.Join(dir, "quotawatch")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "quotawatch.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(body), "/usr/local/bin/quotawatch", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", tmp).CombinedOutput()
	// Users and directories of the target host may be missing here; those
	// are not syntax errors.
	var problems []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" || strings.Contains(l, "User") || strings.Contains(l, "Group") || strings.Contains(l, "/etc/quotawatch") {
			continue
		}
		problems = append(problems, l)
	}
	if len(problems) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, strings.Join(problems, "\n"))
	}
}
