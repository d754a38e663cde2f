package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/report"
)

// Paths of the decision endpoint.
const (
	// PathQuota answers 204 (allowed) or 429 with the seed's body; with
	// ?mode=auth_request it denies with 403, the only denial nginx's
	// auth_request passes on.
	PathQuota = "/v1/quota"
	// PathExceeded always answers 429 with the body, without deciding or
	// reserving: nginx's `error_page 403` location fetches it.
	PathExceeded = "/v1/quota/exceeded"
)

// deniedMessages are the seed's over-limit message per language.
var deniedMessages = map[string]string{
	"ar": "لقد استهلكت حدك الشهري. ترقى للباقة Pro للاستخدام غير المحدود.",
	"en": "You have used up your monthly limit. Upgrade to the Pro plan for unlimited use.",
}

// denied is the seed's 429 body, field for field.
type denied struct {
	Error deniedError `json:"error"`
}

type deniedError struct {
	Message      string          `json:"message"`
	Code         string          `json:"code"`
	CurrentUsage json.RawMessage `json:"current_usage"`
	TierLimit    json.RawMessage `json:"tier_limit"`
	UpgradeURL   string          `json:"upgrade_url"`
}

// Body is the seed's 429 JSON for a decision: current_usage and tier_limit
// in the unit of the limit that decides (cost in USD).
func (e *Enforcer) Body(d Decision) []byte {
	num := func(v int64) json.RawMessage {
		if d.Unit == report.UnitCostUSD {
			return json.RawMessage(report.Money(v).String())
		}
		return json.RawMessage(fmt.Sprint(v))
	}
	b := denied{Error: deniedError{Message: deniedMessages[normalizeLang(d.Lang)], Code: "rate_limit_exceeded",
		CurrentUsage: num(d.Usage), TierLimit: num(d.Limit), UpgradeURL: e.opt.UpgradeURL}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // an upgrade URL keeps its & as written
	if err := enc.Encode(b); err != nil {
		return []byte(`{"error":{"code":"rate_limit_exceeded"}}` + "\n")
	}
	return buf.Bytes()
}

// apiKeyOf is the key a provider request carries: OpenAI's bearer token,
// Anthropic's x-api-key or Azure's api-key.
func apiKeyOf(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
		return ""
	}
	if v := h.Get("X-Api-Key"); v != "" {
		return v
	}
	return h.Get("Api-Key")
}

// Handler serves PathQuota and PathExceeded.
func (e *Enforcer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathQuota, func(w http.ResponseWriter, r *http.Request) {
		id := e.CustomerOf(apiKeyOf(r.Header), r.Header.Get("X-Customer-ID"))
		d := e.Decide(id, true)
		if d.Known {
			w.Header().Set("X-Quota-Customer", d.Customer)
		}
		if d.Allowed {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		code := http.StatusTooManyRequests
		if r.URL.RawQuery == "mode=auth_request" || r.URL.Query().Get("mode") == "auth_request" {
			code = http.StatusForbidden
		}
		writeBody(w, code, e.Body(d))
	})
	mux.HandleFunc("GET "+PathExceeded, func(w http.ResponseWriter, r *http.Request) {
		id := e.CustomerOf(apiKeyOf(r.Header), r.Header.Get("X-Customer-ID"))
		d := e.Decide(id, false)
		if d.Known {
			w.Header().Set("X-Quota-Customer", d.Customer)
		}
		writeBody(w, http.StatusTooManyRequests, e.Body(d))
	})
	return mux
}

func writeBody(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(body)
}

// Serve answers on addr until ctx ends. The listener is bound before it
// returns, so a taken address is an error at start, not a silent gap.
func (e *Enforcer) Serve(ctx context.Context, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("enforce.listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("enforce: serve", "addr", addr, "err", err)
		}
	}()
	e.log.Info("quota decisions served", "addr", ln.Addr().String())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			wg.Wait()
		})
	}
	go func() {
		<-ctx.Done()
		stop()
	}()
	return stop, nil
}
