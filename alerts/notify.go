package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/report"
)

// Notification is one message to deliver.
type Notification struct {
	AlertID   int64
	Kind      string // customer | operator
	To        string // E.164 phone ("" allowed by log and webhook)
	Customer  string
	Period    string
	Threshold float64
	Percent   float64
	Used      float64
	Limit     float64
	Unit      string
	Language  string
	Text      string
	// Vars are the message's variables (template parameters, webhook).
	Vars map[string]string
}

// Notifier delivers a notification. It returns the provider's message id,
// or an error; a *SendError says whether trying again can help.
type Notifier interface {
	Send(ctx context.Context, n Notification) (providerID string, err error)
	// Channel is the notify.channel name.
	Channel() string
	// NeedsPhone reports whether a recipient phone number is required.
	NeedsPhone() bool
}

// SendError is a classified delivery failure.
type SendError struct {
	// Permanent: do not retry this row (131047 without a template, bad
	// number, bad token...).
	Permanent bool
	// Halt: the failure is about the account, not the message (bad token,
	// permissions, restricted account): pause every delivery for a while
	// instead of burning through the queue.
	Halt bool
	// Code is the provider's error code, when there is one.
	Code int
	Err  error
}

// Error implements error.
func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap gives errors.Is/As the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

func permanent(code int, format string, args ...any) error {
	return &SendError{Permanent: true, Code: code, Err: fmt.Errorf(format, args...)}
}

func transient(code int, format string, args ...any) error {
	return &SendError{Code: code, Err: fmt.Errorf(format, args...)}
}

// IsPermanent reports whether err says the delivery can never succeed.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// isHalt reports whether err says the whole queue should pause.
func isHalt(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Halt
}

// LogNotifier writes messages to the log: the default channel, so a new
// install sends nothing to anyone.
type LogNotifier struct {
	Log *slog.Logger
}

// Channel implements Notifier.
func (l *LogNotifier) Channel() string { return "log" }

// NeedsPhone implements Notifier.
func (l *LogNotifier) NeedsPhone() bool { return false }

// Send implements Notifier.
func (l *LogNotifier) Send(_ context.Context, n Notification) (string, error) {
	lg := l.Log
	if lg == nil {
		lg = slog.Default()
	}
	lg.Info("alert (notify.channel log: not sent)", "alert", n.AlertID, "to", n.Kind, "phone", n.To, "customer", n.Customer,
		"period", n.Period, "threshold", n.Threshold, "message", n.Text)
	return fmt.Sprintf("log-%d", n.AlertID), nil
}

// WebhookNotifier POSTs a JSON document to a URL (Slack, n8n, anything).
type WebhookNotifier struct {
	URL    string
	Client *http.Client
}

// webhookBody is the document a webhook receives.
type webhookBody struct {
	Customer  string  `json:"customer"`
	Threshold float64 `json:"threshold"`
	Percent   float64 `json:"percent"`
	Used      float64 `json:"used"`
	Limit     float64 `json:"limit"`
	Unit      string  `json:"unit"`
	Period    string  `json:"period"`
	Message   string  `json:"message"`
	Language  string  `json:"language"`
	To        string  `json:"to"`
	Phone     string  `json:"phone,omitempty"`
	AlertID   int64   `json:"alert_id"`
}

// Channel implements Notifier.
func (w *WebhookNotifier) Channel() string { return "webhook" }

// NeedsPhone implements Notifier.
func (w *WebhookNotifier) NeedsPhone() bool { return false }

// Send implements Notifier: 2xx is success; 429, 5xx and transport errors
// are retried; any other status fails for good.
func (w *WebhookNotifier) Send(ctx context.Context, n Notification) (string, error) {
	body, err := json.Marshal(webhookBody{Customer: n.Customer, Threshold: n.Threshold, Percent: report.RoundFloat2(n.Percent), Used: n.Used,
		Limit: n.Limit, Unit: n.Unit, Period: n.Period, Message: n.Text, Language: n.Language, To: n.Kind, Phone: n.To, AlertID: n.AlertID})
	if err != nil {
		return "", permanent(0, "encode webhook body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return "", permanent(0, "build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("quotawatch-alert-%d", n.AlertID))
	resp, err := client(w.Client).Do(req)
	if err != nil {
		// url.Error names the URL, which may hold the webhook's secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", transient(0, "post webhook %s: %w", RedactURL(w.URL), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return fmt.Sprintf("webhook-%d", n.AlertID), nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", transient(resp.StatusCode, "webhook answered %s: %s", resp.Status, oneLine(string(snippet)))
	}
	return "", permanent(resp.StatusCode, "webhook answered %s: %s", resp.Status, oneLine(string(snippet)))
}

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 20 * time.Second}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
