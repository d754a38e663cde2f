package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
)

// DefaultTemplateParams are the body parameters of a configured WhatsApp
// template, in order, when template_params is not set.
var DefaultTemplateParams = []string{"name", "threshold", "used", "limit", "unit"}

// maxTokenFile bounds what is read from a token file: Meta's tokens are a
// few hundred bytes, and a path pointing at something huge must not be
// read whole.
const maxTokenFile = 64 << 10

// ReadToken returns the WhatsApp access token from the environment variable
// named by token_env, else from token_file. The token is never logged.
func ReadToken(w WhatsApp) (string, error) {
	if w.TokenEnv != "" {
		if v := strings.TrimSpace(os.Getenv(w.TokenEnv)); v != "" {
			return v, nil
		}
	}
	if w.TokenFile != "" {
		return readTokenFile(w.TokenFile)
	}
	if w.TokenEnv != "" {
		return "", fmt.Errorf("no WhatsApp token: $%s is empty and no token_file is set", w.TokenEnv)
	}
	return "", errors.New("no WhatsApp token: set token_env or token_file")
}

// TokenFromFile reports whether ReadToken takes the token from token_file
// (the environment variable, when set, wins), so it can be re-read there.
func TokenFromFile(w WhatsApp) bool {
	return w.TokenFile != "" && (w.TokenEnv == "" || strings.TrimSpace(os.Getenv(w.TokenEnv)) == "")
}

// readTokenFile reads a token file the way transcripts are opened: without
// blocking (a FIFO must not hang the sidecar), regular files only (symlinks,
// as in mounted secrets, are followed), and bounded.
func readTokenFile(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("read WhatsApp token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read WhatsApp token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("WhatsApp token file %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read WhatsApp token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("WhatsApp token file %s is larger than %d KiB: not a token", path, maxTokenFile>>10)
	}
	if v := strings.TrimSpace(string(b)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("WhatsApp token file %s is empty", path)
}

// WhatsAppNotifier sends through the WhatsApp Business Cloud API.
type WhatsAppNotifier struct {
	Config WhatsApp
	// Token is the access token to start with.
	Token string
	// TokenFile, when set, is re-read by Reload (before each send, and every
	// few seconds while deliveries are halted), so a token replaced in the
	// file is used without a restart.
	TokenFile string
	Client    *http.Client

	mu  sync.Mutex
	cur string // the token in use once Reload has read one
}

// token is the access token in use.
func (w *WhatsAppNotifier) token() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur != "" {
		return w.cur
	}
	return w.Token
}

// Reload implements Reloader: it re-reads TokenFile and reports whether the
// token in it differs from the one in use. An unreadable or empty file keeps
// the current token (a rotation that writes the file in two steps must not
// stop deliveries).
func (w *WhatsAppNotifier) Reload() (bool, error) {
	if w.TokenFile == "" {
		return false, nil
	}
	tok, err := readTokenFile(w.TokenFile)
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if tok == w.cur || (w.cur == "" && tok == w.Token) {
		return false, nil
	}
	w.cur = tok
	return true, nil
}

// Channel implements Notifier.
func (w *WhatsAppNotifier) Channel() string { return "whatsapp" }

// NeedsPhone implements Notifier.
func (w *WhatsAppNotifier) NeedsPhone() bool { return true }

type waText struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

type waParam struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type waComponent struct {
	Type       string    `json:"type"`
	Parameters []waParam `json:"parameters"`
}

type waLanguage struct {
	Policy string `json:"policy"`
	Code   string `json:"code"`
}

type waTemplate struct {
	Name       string        `json:"name"`
	Language   waLanguage    `json:"language"`
	Components []waComponent `json:"components,omitempty"`
}

type waRequest struct {
	MessagingProduct string      `json:"messaging_product"`
	RecipientType    string      `json:"recipient_type"`
	To               string      `json:"to"`
	Type             string      `json:"type"`
	Text             *waText     `json:"text,omitempty"`
	Template         *waTemplate `json:"template,omitempty"`
	// BizOpaque is echoed in status webhooks: it ties a late status to the
	// outbox row.
	BizOpaque string `json:"biz_opaque_callback_data,omitempty"`
}

type waResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
	Error *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// Cloud API error codes (whatsapp-cloud-api.md §3).
const (
	waWindowClosed = 131047
)

// retryable codes: throughput, pair rate, app/WABA rate limits, outages,
// unknown errors (bounded by the retry policy's attempts).
var waRetryable = map[int]bool{130429: true, 131056: true, 4: true, 80007: true, 80008: true, 2: true, 131016: true,
	133004: true, 131057: true, 131000: true, 1: true}

// haltCodes are account problems: every send would fail the same way.
func waHalt(code int) bool {
	switch {
	case code == 0, code == 190, code == 3, code == 10, code >= 200 && code <= 299, code == 368, code == 131031,
		code == 130497, code == 131042, code == 131045, code == 131048, code == 131005:
		return true
	}
	return false
}

// Send implements Notifier. A text message is sent unless the template
// mode is "always"; when Meta answers 131047 (the 24-hour window is closed)
// and a template is configured, the template is sent in the same attempt.
func (w *WhatsAppNotifier) Send(ctx context.Context, n Notification) (string, error) {
	if n.To == "" {
		return "", permanent(0, "no phone number for the %s", n.Kind)
	}
	tpl := w.Config.Template
	if n.Kind == ToOperator {
		tpl = w.Config.OperatorTemplate
	}
	if tpl != "" && w.Config.TemplateMode == "always" {
		return w.post(ctx, w.templateRequest(n, tpl))
	}
	id, err := w.post(ctx, w.textRequest(n))
	var se *SendError
	if err != nil && errors.As(err, &se) && se.Code == waWindowClosed {
		if tpl == "" {
			return "", err
		}
		id, terr := w.post(ctx, w.templateRequest(n, tpl))
		if terr != nil {
			// The template's outcome decides: a transient failure is
			// retried (text, 131047 again, then the template).
			out := &SendError{Permanent: IsPermanent(terr), Halt: isHalt(terr),
				Err: fmt.Errorf("%v; template fallback %q: %w", err, tpl, terr)}
			var tse *SendError
			if errors.As(terr, &tse) {
				out.Code = tse.Code
			}
			return "", out
		}
		return id, nil
	}
	return id, err
}

func (w *WhatsAppNotifier) textRequest(n Notification) waRequest {
	body := n.Text
	if utf8.RuneCountInString(body) > 4096 {
		body = string([]rune(body)[:4095]) + "…"
	}
	return waRequest{MessagingProduct: "whatsapp", RecipientType: "individual", To: n.To, Type: "text",
		Text: &waText{Body: body}, BizOpaque: fmt.Sprintf("quotawatch-alert-%d", n.AlertID)}
}

func (w *WhatsAppNotifier) templateRequest(n Notification, name string) waRequest {
	names := w.Config.TemplateParams
	if len(names) == 0 {
		names = DefaultTemplateParams
	}
	params := make([]waParam, 0, len(names))
	for _, k := range names {
		// Meta rejects parameters with newlines, tabs or runs of spaces.
		params = append(params, waParam{Type: "text", Text: strings.Join(strings.Fields(n.Vars[k]), " ")})
	}
	lang := w.Config.TemplateLang
	if lang == "" {
		lang = n.Language
	}
	t := &waTemplate{Name: name, Language: waLanguage{Policy: "deterministic", Code: lang}}
	if len(params) > 0 {
		t.Components = []waComponent{{Type: "body", Parameters: params}}
	}
	return waRequest{MessagingProduct: "whatsapp", RecipientType: "individual", To: n.To, Type: "template", Template: t,
		BizOpaque: fmt.Sprintf("quotawatch-alert-%d", n.AlertID)}
}

func (w *WhatsAppNotifier) post(ctx context.Context, r waRequest) (string, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return "", permanent(0, "encode WhatsApp request: %w", err)
	}
	url := strings.TrimRight(w.Config.APIBase, "/") + "/" + w.Config.PhoneNumberID + "/messages"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", permanent(0, "build WhatsApp request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := client(w.Client).Do(req)
	if err != nil {
		// The error names the URL, never the header: the token stays out.
		return "", transient(0, "send WhatsApp %s message: %w", r.Type, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", transient(0, "read WhatsApp answer (HTTP %d): %w", resp.StatusCode, err)
	}
	var wr waResponse
	jerr := json.Unmarshal(raw, &wr)
	if resp.StatusCode == http.StatusOK {
		// 200 means accepted: never send again, even if the body is odd.
		if jerr != nil || len(wr.Messages) == 0 {
			return "", nil
		}
		return wr.Messages[0].ID, nil
	}
	if jerr != nil || wr.Error == nil {
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return "", transient(0, "WhatsApp answered HTTP %d: %s", resp.StatusCode, oneLine(string(raw)))
		}
		return "", permanent(0, "WhatsApp answered HTTP %d without an error code: %s", resp.StatusCode, oneLine(string(raw)))
	}
	e := wr.Error
	detail := e.Message
	if e.ErrorData.Details != "" {
		detail += ": " + e.ErrorData.Details
	}
	if e.FBTraceID != "" {
		detail += " (fbtrace_id " + e.FBTraceID + ")"
	}
	code := e.Code
	se := &SendError{Code: code, Err: fmt.Errorf("WhatsApp error %d (HTTP %d): %s", code, resp.StatusCode, oneLine(detail))}
	switch {
	case waRetryable[code]:
	case resp.StatusCode >= 500 && !waHalt(code) && code/1000 != 132 && code != waWindowClosed && code != 131026:
		// An unknown code with a server status is an outage.
	default:
		se.Permanent = true
		se.Halt = waHalt(code)
	}
	return "", se
}
