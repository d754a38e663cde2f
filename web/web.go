// Package web is the dashboard room: HTML pages, a JSON API, /metrics and
// the health probes that `quotawatch run` serves when http.listen is set.
// It only renders what report computes; no endpoint changes state.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Options is what the dashboard reads.
type Options struct {
	Store *store.Store
	Book  *report.Book
	// Sources are the configured sources, for grouping what was read.
	Sources []report.DigestSource
	// Clock is the time (time.Now when nil).
	Clock func() time.Time
	// Live reports the running ingest (nil: none runs in this process, so
	// /readyz is never ready and the ingest metrics are absent).
	Live func() Live
	// Token, when set, is required on every request as
	// `Authorization: Bearer <token>` (or as the password of HTTP Basic,
	// so a browser can log in).
	Token string
	// Language is the pages' default language (ar when empty).
	Language string
	// Version is the binary's version, for the footer and build_info.
	Version string
	Log     *slog.Logger
}

// Live is what the running process knows that the database does not.
type Live struct {
	// CaughtUp is set once the first catch-up is committed.
	CaughtUp bool
	Started  time.Time
	// Stats are the ingest counters (zero until CaughtUp).
	Stats  monitor.Stats
	Health monitor.Health
}

// WedgedAfter is how long one commit may take before /readyz calls the
// ingest wedged (a batch is at most 2,000 events or 16 MiB; SQLite commits
// one in well under a second on a healthy disk).
const WedgedAfter = time.Minute

// queryTimeout bounds every request's reads, so a stuck database turns into
// an error page, not a pile of hung connections.
const queryTimeout = 10 * time.Second

type server struct {
	o       Options
	now     func() time.Time
	log     *slog.Logger
	token   [32]byte
	pages   *pages
	metrics http.Handler
	// The caches keep what is dear to compute until the next commit or
	// minute (see generation).
	rowsCache   renderCache[gen, string, []report.Row]
	indexCache  renderCache[gen, indexKey, string]
	familyCache renderCache[gen, string, []*dto.MetricFamily]
}

// New returns the dashboard's handler.
func New(o Options) (http.Handler, error) {
	s := &server{o: o, now: o.Clock, log: o.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.o.Language == "" {
		s.o.Language = "ar"
	}
	if o.Token != "" {
		s.token = sha256.Sum256([]byte(o.Token))
	}
	var err error
	if s.pages, err = newPages(); err != nil {
		return nil, err
	}
	s.metrics = s.metricsHandler()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/usage", s.apiUsage)
	mux.HandleFunc("GET /api/alerts", s.apiAlerts)
	mux.HandleFunc("GET /api/status", s.apiStatus)
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /customer/{id}", s.customer)
	mux.HandleFunc("GET /alerts", s.alerts)
	mux.HandleFunc("GET /sources", s.sources)
	mux.Handle("GET /assets/", assetHandler())
	return s.secure(mux), nil
}

// secure adds the token check and the headers every answer carries: the
// pages load nothing from elsewhere and run no script.
func (s *server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.o.Token != "" && !s.authorized(r) {
			// Basic is offered so a browser asks for the token (any user name).
			h.Set("WWW-Authenticate", `Bearer realm="quotawatch", Basic realm="quotawatch"`)
			http.Error(w, "401 unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed: the dashboard only reads", http.StatusMethodNotAllowed)
			return
		}
		// One bound for every handler's reads (see queryTimeout).
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authorized compares the presented token in constant time (hashes of
// equal length, so the token's length leaks nothing either).
func (s *server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	var got string
	switch {
	case len(auth) > 7 && strings.EqualFold(auth[:7], "bearer "):
		got = strings.TrimSpace(auth[7:])
	case len(auth) > 6 && strings.EqualFold(auth[:6], "basic "):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth[6:]))
		if err != nil {
			return false
		}
		_, pw, ok := strings.Cut(string(b), ":")
		if !ok {
			return false
		}
		got = pw
	default:
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], s.token[:]) == 1
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// ready says whether the sidecar is doing its job, and why not.
func (s *server) ready(ctx context.Context) (bool, string) {
	if s.o.Live == nil {
		return false, "no ingest runs in this process"
	}
	l := s.o.Live()
	h := l.Health
	switch {
	case h.Stopped != "":
		return false, "ingest stopped: " + h.Stopped
	case !l.CaughtUp:
		return false, "first catch-up not done yet"
	case h.Failing != "":
		return false, "last batch failed (retrying): " + h.Failing
	case !h.Busy.IsZero() && s.now().Sub(h.Busy) > WedgedAfter:
		return false, fmt.Sprintf("ingest wedged: one commit has been running for %s", s.now().Sub(h.Busy).Round(time.Second))
	}
	if err := s.o.Store.Ping(ctx); err != nil {
		return false, "database: " + err.Error()
	}
	return true, ""
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if ok, why := s.ready(ctx); !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: "+why)
		return
	}
	fmt.Fprintln(w, "ready")
}

// month reads ?month=, defaulting to the running period of the global
// timezone.
func (s *server) month(r *http.Request) (string, error) {
	m := r.URL.Query().Get("month")
	if m == "" {
		return report.PeriodOf(s.now(), s.o.Book.Location), nil
	}
	if _, err := time.Parse("2006-01", m); err != nil || len(m) != 7 {
		return "", fmt.Errorf("month: want YYYY-MM, got %q", m)
	}
	return m, nil
}

func (s *server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := report.WriteJSON(w, v); err != nil {
		s.log.Warn("dashboard: write response", "err", err)
	}
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 {
		s.log.Error("dashboard", "path", r.URL.Path, "err", err)
	}
	http.Error(w, fmt.Sprintf("%d %s: %v", code, strings.ToLower(http.StatusText(code)), err), code)
}

func (s *server) apiUsage(w http.ResponseWriter, r *http.Request) {
	month, err := s.month(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	only := r.URL.Query().Get("customer")
	if only != "" {
		if _, ok := s.o.Book.Customer(only); !ok && only != report.Unassigned {
			s.fail(w, r, http.StatusNotFound, fmt.Errorf("customer %q is not configured", only))
			return
		}
	}
	ctx := r.Context()
	var rows []report.Row
	if only == "" {
		var g gen
		var now time.Time
		if g, now, err = s.generation(ctx); err == nil {
			rows, err = s.rows(ctx, g, month, now)
		}
	} else {
		rows, err = report.Rows(ctx, s.o.Store, s.o.Book, month, only, s.now())
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := report.WriteRowsJSON(w, rows); err != nil {
		s.log.Warn("dashboard: write response", "err", err)
	}
}

func (s *server) apiAlerts(w http.ResponseWriter, r *http.Request) {
	month := ""
	if r.URL.Query().Get("month") != "" || r.URL.Query().Get("all") == "" {
		var err error
		if month, err = s.month(r); err != nil {
			s.fail(w, r, http.StatusBadRequest, err)
			return
		}
	}
	ctx := r.Context()
	rows, err := report.AlertRows(ctx, s.o.Store, month, r.URL.Query().Get("customer"), s.o.Book.Location)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.writeJSON(w, rows)
}

// Status is /api/status: the facts `quotawatch status` prints, plus what
// only the running process knows.
type Status struct {
	report.Status
	Ready    bool       `json:"ready"`
	NotReady string     `json:"not_ready,omitempty"`
	Run      *RunStatus `json:"run"`
}

// RunStatus is the running process's own view (counters since it started).
type RunStatus struct {
	Version    string                `json:"version"`
	Started    string                `json:"started"`
	Lines      int64                 `json:"lines"`
	Events     int64                 `json:"events"`
	NewEvents  int64                 `json:"new_events"`
	Duplicates int64                 `json:"duplicates"`
	BadLines   int64                 `json:"bad_lines"`
	Sources    []monitor.SourceStats `json:"sources"`
	LastCommit *string               `json:"last_commit"`
	Failing    string                `json:"failing,omitempty"`
	Stopped    string                `json:"stopped,omitempty"`
}

// status gathers /api/status (and the sources page).
func (s *server) status(ctx context.Context) (Status, error) {
	rs, err := report.ReadStatus(ctx, s.o.Store, s.o.Sources, s.now(), s.o.Book.Location)
	if err != nil {
		return Status{}, err
	}
	out := Status{Status: rs}
	out.Ready, out.NotReady = s.ready(ctx)
	if s.o.Live != nil {
		l := s.o.Live()
		st := l.Stats
		out.Run = &RunStatus{Version: s.o.Version, Started: l.Started.In(s.o.Book.Location).Format(time.RFC3339),
			Lines: st.Lines, Events: st.Events, NewEvents: st.Inserted, Duplicates: st.Duplicates, BadLines: st.Bad,
			Sources: st.Sources, Failing: l.Health.Failing, Stopped: l.Health.Stopped}
		if !l.Health.LastCommit.IsZero() {
			out.Run.LastCommit = report.TimeMs(l.Health.LastCommit.UnixMilli(), s.o.Book.Location)
		}
	}
	return out, nil
}

func (s *server) apiStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := s.status(ctx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.writeJSON(w, st)
}
