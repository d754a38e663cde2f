package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOnlyLoopbackAddressesListenWithoutAToken(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9477": true, "127.9.9.9:1": true, "[::1]:9477": true, "localhost:9477": true, "LOCALHOST:1": true,
		"0.0.0.0:9477": false, ":9477": false, "[::]:9477": false, "10.0.0.5:9477": false, "example.com:9477": false, "bogus": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestDashboardTokenComesFromTheEnvironmentOrAFileAndIsRequiredOffLoopback(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	os.WriteFile(file, []byte("  from-file\n"), 0o600)
	t.Setenv("QW_TEST_DASH_TOKEN", "from-env")
	t.Setenv("QW_TEST_EMPTY", "")
	for _, tt := range []struct {
		listen, env, file string
		want, errKey      string
	}{
		{"127.0.0.1:1", "", "", "", ""},
		{"0.0.0.0:1", "", "", "", "http.auth_token_env"},
		{"0.0.0.0:1", "QW_TEST_EMPTY", "", "", "http.auth_token_env"},
		{"0.0.0.0:1", "QW_TEST_DASH_TOKEN", "", "from-env", ""},
		{"0.0.0.0:1", "QW_TEST_EMPTY", file, "from-file", ""},
		{"0.0.0.0:1", "QW_TEST_DASH_TOKEN", file, "from-env", ""},
		{"127.0.0.1:1", "", file, "from-file", ""},
		{"0.0.0.0:1", "", filepath.Join(dir, "missing"), "", "http.auth_token_file"},
		{"0.0.0.0:1", "", dir, "", "http.auth_token_file"},
		{"", "", "", "", ""},
	} {
		var c Config
		c.HTTP.Listen, c.HTTP.AuthTokenEnv, c.HTTP.AuthTokenFile = tt.listen, tt.env, tt.file
		got, err := c.webToken()
		var ce *ConfigError
		switch {
		case tt.errKey != "" && (!errors.As(err, &ce) || ce.Key != tt.errKey):
			t.Errorf("%+v: err %v, want a config error naming %s", tt, err, tt.errKey)
		case tt.errKey == "" && (err != nil || got != tt.want):
			t.Errorf("%+v: %q, %v; want %q", tt, got, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "from-file")) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

func TestABadListenAddressIsAConfigError(t *testing.T) {
	for _, l := range []string{"9477", "127.0.0.1", "http://127.0.0.1:9477"} {
		var c Config
		c.HTTP.Listen = l
		var ce *ConfigError
		if err := c.validateHTTP(); !errors.As(err, &ce) || ce.Key != "http.listen" {
			t.Errorf("listen %q: %v, want a config error naming http.listen", l, err)
		}
	}
}
