package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/store"
	"github.com/quotawatch/quotawatch/web"
)

// validateHTTP checks the http keys' shape; whether the token is there is
// checked by run (webToken), so `usage` works from a shell without it.
func (c *Config) validateHTTP() error {
	h := &c.HTTP
	if h.Listen != "" {
		if _, port, err := net.SplitHostPort(h.Listen); err != nil || port == "" {
			return cfgErr("http.listen", "want host:port such as 127.0.0.1:9477, got %q", h.Listen)
		}
	}
	if h.AuthTokenEnv != "" && strings.ContainsAny(h.AuthTokenEnv, "=$ \t") {
		return cfgErr("http.auth_token_env", "want the name of an environment variable, got %q", h.AuthTokenEnv)
	}
	h.AuthTokenFile = expandHome(h.AuthTokenFile)
	return nil
}

// loopback reports whether a listen address only accepts connections from
// this host. An empty host (":9477") listens on every interface; a name
// other than localhost may resolve anywhere, so it counts as not loopback.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxTokenFile bounds the dashboard token file, which is read whole.
const maxTokenFile = 64 << 10

// webToken returns the dashboard's bearer token ("" = none configured). A
// listen address other than loopback without a token is refused, naming
// http.auth_token_env: the dashboard shows every customer's usage.
func (c *Config) webToken() (string, error) {
	h := c.HTTP
	if h.Listen == "" {
		return "", nil
	}
	var tok string
	if h.AuthTokenEnv != "" {
		tok = strings.TrimSpace(os.Getenv(h.AuthTokenEnv))
	}
	if tok == "" && h.AuthTokenFile != "" {
		var err error
		if tok, err = readWebTokenFile(h.AuthTokenFile); err != nil {
			return "", cfgErr("http.auth_token_file", "%v", err)
		}
		if tok == "" {
			return "", cfgErr("http.auth_token_file", "%s is empty", h.AuthTokenFile)
		}
	}
	if tok == "" && !loopback(h.Listen) {
		why := "not set"
		if h.AuthTokenEnv != "" {
			why = "$" + h.AuthTokenEnv + " is empty"
		}
		return "", cfgErr("http.auth_token_env", "required: http.listen %s is not a loopback address and no dashboard token is configured (%s; or set http.auth_token_file)", h.Listen, why)
	}
	return tok, nil
}

// readWebTokenFile reads a token file without blocking (a FIFO must not
// hang the start), regular files only (symlinks followed), bounded.
func readWebTokenFile(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("read dashboard token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read dashboard token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("dashboard token file %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read dashboard token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("dashboard token file %s is larger than %d bytes", path, maxTokenFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// startWeb serves the dashboard when http.listen is set. caughtUp is to be
// called once the first catch-up is committed (readiness); stop shuts the
// server down. The address is bound here, so a port in use fails the start.
func (a *app) startWeb(c *Config, st *store.Store, m *monitor.Monitor, token string) (caughtUp, stop func(), err error) {
	if c.HTTP.Listen == "" {
		return func() {}, func() {}, nil
	}
	var caught atomic.Bool
	started := a.now()
	h, err := web.New(web.Options{Store: st, Book: c.book(), Sources: digestSources(c), Clock: a.now, Token: token,
		Language: c.Alerts.Language, Version: Version, Log: a.log,
		Live: func() web.Live {
			l := web.Live{CaughtUp: caught.Load(), Started: started, Health: m.Health()}
			// Monitor.Run sets up what Stats reads before the first
			// catch-up ends (which caught publishes), not before it starts.
			if l.CaughtUp {
				l.Stats = m.Stats()
			}
			return l
		}})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.HTTP.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("dashboard: listen on %s (http.listen): %w", c.HTTP.Listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("dashboard stopped", "err", err)
		}
	}()
	a.log.Info("dashboard listening", "addr", ln.Addr().String(), "auth", token != "")
	return func() { caught.Store(true) }, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
