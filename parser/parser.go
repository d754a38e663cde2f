// Package parser turns one log line into at most one usage event.
//
// It is pure: no I/O, no clock, no globals. A Parser value reuses its JSON
// arena between calls, so one Parser belongs to one goroutine.
package parser

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Kind says what a line turned out to be.
type Kind uint8

// The kinds of line a parser reports.
const (
	// KindIgnored is a well-formed line that is not a provider call (user
	// message, tool result, model change, compaction entry...).
	KindIgnored Kind = iota
	// KindEmpty is a blank line (pi writes one when it resets a header-less file).
	KindEmpty
	// KindHeader is a transcript's session header; Result.SessionID is set.
	KindHeader
	// KindUsage is one AI provider call; Result.Event is set.
	KindUsage
	// KindSynthetic is an assistant line that was not a provider call
	// (gateway-injected replies, delivery mirrors): skipped and counted.
	KindSynthetic
	// KindEnvelope is an inbound user message whose envelope names the
	// channel and the sender; Result.Channel and Result.Peer are set.
	KindEnvelope
	// KindBad is a malformed line; Result.Err says why.
	KindBad
)

// String names the kind for logs and summaries.
func (k Kind) String() string {
	switch k {
	case KindIgnored:
		return "ignored"
	case KindEmpty:
		return "empty"
	case KindHeader:
		return "header"
	case KindUsage:
		return "usage"
	case KindSynthetic:
		return "synthetic"
	case KindEnvelope:
		return "envelope"
	case KindBad:
		return "bad"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Event is one AI provider call as read from a log line.
type Event struct {
	// EntryID identifies the call within its session (Clawdbot entry id, or
	// the configured id field of a generic log). Empty when the log has none.
	EntryID string
	// TimeMs is the event's own time in Unix milliseconds, within
	// [MinTimeMs, MaxTimeMs]; meaningful only when HasTime is true.
	TimeMs int64
	// HasTime says the line carried a valid time (epoch 0 is a time); when
	// false the reader supplies its own clock.
	HasTime    bool
	Provider   string
	Model      string
	Input      int64
	Output     int64
	CacheRead  int64
	CacheWrite int64
	// CostUSD is meaningful only when Priced is true.
	CostUSD float64
	// Priced is false when the line carried no cost: "unpriced", never $0.
	Priced bool
	// Failed marks a call that ended in error or was aborted.
	Failed     bool
	StopReason string
	// Customer is set only by the generic JSONL format's customer field.
	Customer string
	// SessionID is set only by the generic JSONL format's session field.
	SessionID string
}

// Result is what one line yielded.
type Result struct {
	Kind      Kind
	Event     Event
	SessionID string
	Channel   string
	Peer      string
	Err       error
}

// ErrNotJSONObject marks a line that is not a single JSON object.
var ErrNotJSONObject = errors.New("not a JSON object")

var (
	litUsage     = []byte(`"usage"`)
	litSession   = []byte(`"session"`)
	litUser      = []byte(`"user"`)
	litAssistant = []byte(`"assistant"`)
	litEnvelope  = []byte(`[`)
)

// trimSpace trims ASCII whitespace (and a CR left by CRLF writers) cheaply.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 {
		c := b[len(b)-1]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// shapeCheck is the cheap test every line gets, decoded or not, so binary
// garbage and truncated JSON are counted even when no decode is needed.
func shapeCheck(line []byte) (trimmed []byte, res Result, ok bool) {
	t := trimSpace(line)
	if len(t) == 0 {
		return nil, Result{Kind: KindEmpty}, false
	}
	if t[0] != '{' || t[len(t)-1] != '}' {
		return nil, Result{Kind: KindBad, Err: ErrNotJSONObject}, false
	}
	if !validUTF8(t) {
		return nil, Result{Kind: KindBad, Err: errors.New("invalid UTF-8")}, false
	}
	return t, Result{}, true
}

// Clawdbot parses the lines of Clawdbot/pi session transcripts.
type Clawdbot struct {
	p fastjson.Parser
	// names interns provider and model names: a handful of distinct values
	// repeated on every call, which would otherwise cost two allocations a line.
	names map[string]string
	// WantEnvelope asks the parser to decode user messages for their inbound
	// envelope; the monitor turns it off once a session is attributed, which
	// keeps user lines on the fast path.
	WantEnvelope bool
}

// Parse classifies one transcript line (without its trailing newline).
func (c *Clawdbot) Parse(line []byte) Result {
	t, res, ok := shapeCheck(line)
	if !ok {
		return res
	}
	hasUsage := bytes.Contains(t, litUsage)
	hasAssistant := hasUsage && bytes.Contains(t, litAssistant)
	isHeader := !hasAssistant && bytes.Contains(t, litSession)
	wantEnv := c.WantEnvelope && !hasAssistant && bytes.Contains(t, litUser) && bytes.Contains(t, litEnvelope)
	if !hasAssistant && !isHeader && !wantEnv {
		return Result{Kind: KindIgnored}
	}
	v, err := c.p.ParseBytes(t)
	if err != nil {
		return Result{Kind: KindBad, Err: fmt.Errorf("decode JSON: %w", err)}
	}
	if v.Type() != fastjson.TypeObject {
		return Result{Kind: KindBad, Err: ErrNotJSONObject}
	}
	typ := v.GetStringBytes("type")
	switch {
	case string(typ) == "session":
		id := str(v, "id")
		if id == "" {
			return Result{Kind: KindBad, Err: errors.New("session header without id")}
		}
		return Result{Kind: KindHeader, SessionID: id}
	case string(typ) == "message" || len(typ) == 0:
		msg := v.Get("message")
		if msg == nil || msg.Type() != fastjson.TypeObject {
			if len(typ) == 0 {
				return Result{Kind: KindIgnored}
			}
			return Result{Kind: KindBad, Err: errors.New("message entry without message object")}
		}
		switch string(msg.GetStringBytes("role")) {
		case "assistant":
			return c.assistant(v, msg)
		case "user":
			if wantEnv {
				return envelope(msg)
			}
		}
	}
	return Result{Kind: KindIgnored}
}

func (c *Clawdbot) assistant(entry, msg *fastjson.Value) Result {
	usage := msg.Get("usage")
	if usage == nil {
		usage = entry.Get("usage") // older writers put usage at the entry level
	}
	provider := c.name(msg.GetStringBytes("provider"))
	if provider == "" {
		provider = c.name(entry.GetStringBytes("provider"))
	}
	model := c.name(msg.GetStringBytes("model"))
	if model == "" {
		model = c.name(entry.GetStringBytes("model"))
	}
	stop := c.name(msg.GetStringBytes("stopReason"))
	if stop == "injected" || syntheticModel(provider, model) {
		return Result{Kind: KindSynthetic}
	}
	if usage == nil || usage.Type() != fastjson.TypeObject {
		if provider == "" && model == "" {
			return Result{Kind: KindSynthetic}
		}
		return Result{Kind: KindBad, Err: errors.New("assistant message without usage object")}
	}
	ev := Event{
		EntryID:    str(entry, "id"),
		Provider:   provider,
		Model:      model,
		StopReason: stop,
		Failed:     stop == "error" || stop == "aborted",
	}
	var err error
	if ev.Input, err = firstInt(usage, "input", "inputTokens", "input_tokens", "promptTokens", "prompt_tokens"); err != nil {
		return bad(err)
	}
	if ev.Output, err = firstInt(usage, "output", "outputTokens", "output_tokens", "completionTokens", "completion_tokens"); err != nil {
		return bad(err)
	}
	if ev.CacheRead, err = firstInt(usage, "cacheRead", "cacheReadTokens", "cache_read", "cache_read_input_tokens", "cache_read_tokens"); err != nil {
		return bad(err)
	}
	if ev.CacheWrite, err = firstInt(usage, "cacheWrite", "cacheWriteTokens", "cache_write", "cache_creation_input_tokens", "cache_write_tokens"); err != nil {
		return bad(err)
	}
	if ev.Input == 0 && ev.Output == 0 && ev.CacheRead == 0 && ev.CacheWrite == 0 {
		// A writer that only reports a total: keep it rather than lose it.
		if tot, err := firstInt(usage, "totalTokens", "total_tokens", "total"); err != nil {
			return bad(err)
		} else {
			ev.Input = tot
		}
	}
	if cost := usage.Get("cost"); cost != nil {
		switch cost.Type() {
		case fastjson.TypeObject:
			// A null total is JavaScript's NaN (JSON.stringify writes NaN as
			// null): unpriced, like a null cost.
			if tot := cost.Get("total"); tot != nil && tot.Type() != fastjson.TypeNull {
				if ev.CostUSD, err = costUSD(tot); err != nil {
					return bad(fmt.Errorf("usage.cost.total: %w", err))
				}
				ev.Priced = true
			}
		case fastjson.TypeNull:
		default:
			if ev.CostUSD, err = costUSD(cost); err != nil {
				return bad(fmt.Errorf("usage.cost: %w", err))
			}
			ev.Priced = true
		}
	}
	if ev.TimeMs, ev.HasTime, err = entryTime(entry, msg); err != nil {
		return bad(err)
	}
	return Result{Kind: KindUsage, Event: ev}
}

// syntheticModel reports whether an assistant line is the gateway's own
// rather than a provider call: its chat.inject, /usage cost, /compact and
// refusal replies, and the mirrors of outbound deliveries. Clawdbot marks
// the replies with stopReason "injected" and the mirrors with provider
// "clawdbot" (clawdbot-formats.md §2.5); OpenClaw 2026.9 writes both as
// provider "openclaw" with one of two reserved models, stopReason "stop"
// and zero usage (openclaw-formats.md §2), which would otherwise count as
// requests. Any other model of a provider named "openclaw" is a call.
func syntheticModel(provider, model string) bool {
	return (provider == "openclaw" || provider == "clawdbot") &&
		(model == "gateway-injected" || model == "delivery-mirror")
}

func bad(err error) Result { return Result{Kind: KindBad, Err: err} }

// name returns b as a string, interned: the map lookup with string(b) does
// not allocate, and only the first sighting of a name is copied.
func (c *Clawdbot) name(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := c.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= 128 && len(c.names) < 1024 {
		if c.names == nil {
			c.names = make(map[string]string)
		}
		c.names[s] = s
	}
	return s
}

// isoMillis reads the "2006-01-02T15:04:05.000Z" timestamps pi writes
// (Date.toISOString) without allocating; ok is false for any other shape.
func isoMillis(b []byte) (ms int64, ok bool) {
	if len(b) != 24 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[23] != 'Z' {
		return 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, sec, milli := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || milli < 0 {
		return 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, milli*1e6, time.UTC)
	if t.Day() != d { // 2026-02-30 and the like: let time.Parse reject it
		return 0, false
	}
	return t.UnixMilli(), true
}

// entryTime prefers the entry's ISO time (when the line was appended), as
// Clawdbot's own cost summary does, and falls back to the message's epoch ms.
// An ISO time that parses but lies outside [MinTimeMs, MaxTimeMs] is an
// error, not a reason to fall back: the line said when it was written.
func entryTime(entry, msg *fastjson.Value) (ms int64, ok bool, err error) {
	if v := entry.Get("timestamp"); v != nil && v.Type() == fastjson.TypeString {
		ts := v.GetStringBytes()
		ms, ok = isoMillis(ts)
		if !ok {
			if t, perr := time.Parse(time.RFC3339Nano, string(ts)); perr == nil {
				ms, ok = t.UnixMilli(), true
			}
		}
		if ok {
			if ms < MinTimeMs || ms > MaxTimeMs {
				return 0, false, fmt.Errorf("timestamp: %s %w", rawValue(v), errTimeRange)
			}
			return ms, true, nil
		}
	}
	if v := msg.Get("timestamp"); v != nil && v.Type() == fastjson.TypeNumber {
		if ms, err = epochOf(v); err != nil {
			return 0, false, fmt.Errorf("message.timestamp: %w", err)
		}
		return ms, true, nil
	}
	return 0, false, nil
}

// The bounds every number of a usage line must keep. A value outside them
// makes the line a bad line, never a clamped one: a clamp would bill a
// number nobody wrote.
const (
	// MaxTokens bounds each token count of one call. The largest real
	// context windows are ~1e7 tokens, and at this bound no monthly int64
	// sum can overflow.
	MaxTokens = 1_000_000_000
	// MaxCostUSD bounds the cost of one call in USD.
	MaxCostUSD = 100_000
	// MinTimeMs is the earliest event time accepted, 1970-01-01T00:00:00.000Z.
	MinTimeMs int64 = 0
	// MaxTimeMs is the latest event time accepted, 9999-12-31T23:59:59.999Z:
	// the last millisecond of the last period with a four-digit year.
	MaxTimeMs int64 = 253402300799999
	// epochMsFrom is where an epoch number stops being seconds and starts
	// being milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
	epochMsFrom = 1e11
)

var (
	errNaN       = errors.New("is NaN (not a number)")
	errInfinite  = errors.New("is infinite")
	errNegative  = errors.New("is negative")
	errFraction  = errors.New("is not a whole number (a fraction means a mis-mapped field)")
	errTokens    = errors.New("is above the bound of 1e9 tokens per call (parser.MaxTokens)")
	errCost      = errors.New("is above the bound of 100000 USD per call (parser.MaxCostUSD)")
	errNotNumber = errors.New("is not a number")
	errTimeRange = errors.New("is outside 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z")
)

// rawValue is the value as written, for error messages (capped: a string
// field can be megabytes).
func rawValue(v *fastjson.Value) string {
	s := v.String()
	if len(s) > 40 {
		n := 37
		for n > 0 && !utf8.RuneStart(s[n]) { // never cut a character in two
			n--
		}
		s = s[:n] + "..."
	}
	return s
}

// decimal reads a numeric string written as a JSON number would be. Go's
// ParseFloat alone also takes "NaN", "inf", "Infinity", hex and
// underscores, none of which a log means as a count.
func decimal(s []byte) (float64, bool) {
	digits := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return 0, false
		}
	}
	if !digits {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true // ±Inf on overflow: finiteOf names it
}

// finiteOf reads a JSON number or numeric string and requires it finite.
// fastjson yields +Inf for 1e309 and NaN for a bare NaN, without error.
func finiteOf(v *fastjson.Value) (float64, error) {
	var f float64
	switch v.Type() {
	case fastjson.TypeNumber:
		var err error
		if f, err = v.Float64(); err != nil { // "+1" and the like: GetFloat64 would read 0
			return 0, fmt.Errorf("%s %w", rawValue(v), errNotNumber)
		}
	case fastjson.TypeString:
		var ok bool
		if f, ok = decimal(v.GetStringBytes()); !ok {
			return 0, fmt.Errorf("%s %w", rawValue(v), errNotNumber)
		}
	default:
		return 0, fmt.Errorf("%s %w", rawValue(v), errNotNumber)
	}
	switch {
	case f != f:
		return 0, fmt.Errorf("%s %w", rawValue(v), errNaN)
	case math.IsInf(f, 0):
		return 0, fmt.Errorf("%s %w", rawValue(v), errInfinite)
	}
	return f, nil
}

// tokenCount reads one token count: whole, 0 <= n <= MaxTokens.
func tokenCount(v *fastjson.Value) (int64, error) {
	f, err := finiteOf(v)
	if err != nil {
		return 0, err
	}
	switch {
	case f < 0:
		return 0, fmt.Errorf("%s %w", rawValue(v), errNegative)
	case f > MaxTokens:
		return 0, fmt.Errorf("%s %w", rawValue(v), errTokens)
	case f != math.Trunc(f):
		return 0, fmt.Errorf("%s %w", rawValue(v), errFraction)
	}
	return int64(f), nil
}

// costUSD reads the cost of one call: 0 <= cost <= MaxCostUSD.
func costUSD(v *fastjson.Value) (float64, error) {
	f, err := finiteOf(v)
	if err != nil {
		return 0, err
	}
	switch {
	case f < 0:
		return 0, fmt.Errorf("%s %w", rawValue(v), errNegative)
	case f > MaxCostUSD:
		return 0, fmt.Errorf("%s %w", rawValue(v), errCost)
	}
	return f + 0, nil // -0 becomes 0, so no total ever prints as -0
}

// epochOf reads an epoch time (a JSON number or numeric string).
func epochOf(v *fastjson.Value) (int64, error) {
	f, err := finiteOf(v)
	if err != nil {
		return 0, err
	}
	ms, err := epochMs(f)
	if err != nil {
		return 0, fmt.Errorf("%s %w", rawValue(v), err)
	}
	return ms, nil
}

// epochMs converts epoch seconds or milliseconds (past epochMsFrom) to
// milliseconds. The range is checked on the float, before the conversion:
// int64(1e20) is undefined and came out as the year -292275055.
func epochMs(f float64) (int64, error) {
	switch {
	case f != f:
		return 0, errNaN
	case math.IsInf(f, 0):
		return 0, errInfinite
	case f < 0:
		return 0, errTimeRange
	case f > epochMsFrom:
		if f >= float64(MaxTimeMs+1) {
			return 0, errTimeRange
		}
		return int64(f), nil
	}
	return int64(f * 1000), nil // at most 1e14 ms, the year 5138
}

func str(v *fastjson.Value, key string) string {
	b := v.GetStringBytes(key)
	if b == nil {
		return ""
	}
	return string(b)
}

// firstInt reads the first of the keys present. A present key of the wrong
// type or out of bounds is an error: silently reading 0 would undercount an
// invoice, and a clamp would bill a number nobody wrote.
func firstInt(v *fastjson.Value, keys ...string) (int64, error) {
	for _, k := range keys {
		f := v.Get(k)
		if f == nil || f.Type() == fastjson.TypeNull {
			continue
		}
		n, err := tokenCount(f)
		if err != nil {
			return 0, fmt.Errorf("usage.%s: %w", k, err)
		}
		return n, nil
	}
	return 0, nil
}

// knownChannels are the envelope labels Clawdbot writes for inbound channels
// (lower-cased); a bracketed text from anything else is not an envelope.
var knownChannels = map[string]bool{
	"whatsapp": true, "telegram": true, "signal": true, "imessage": true,
	"discord": true, "slack": true, "bluebubbles": true, "msteams": true,
	"teams": true, "matrix": true, "line": true, "googlechat": true,
	"mattermost": true, "sms": true, "zalo": true, "nostr": true,
}

// Channels lists the channel names Clawdbot writes as envelope labels
// (lower-cased, sorted), for configuration that names a channel.
func Channels() []string {
	cs := make([]string, 0, len(knownChannels))
	for c := range knownChannels {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

func envelope(msg *fastjson.Value) Result {
	var text []byte
	c := msg.Get("content")
	switch {
	case c == nil:
	case c.Type() == fastjson.TypeString:
		text = c.GetStringBytes()
	case c.Type() == fastjson.TypeArray:
		for _, b := range c.GetArray() {
			if string(b.GetStringBytes("type")) == "text" {
				text = b.GetStringBytes("text")
				break
			}
		}
	}
	// Only the bracketed head is converted: the message body can be
	// kilobytes, and substrings of it would keep it alive in session state.
	if end := bytes.IndexByte(text, ']'); end >= 0 {
		text = text[:end+1]
	}
	ch, peer, ok := ParseEnvelope(string(text))
	if !ok {
		return Result{Kind: KindIgnored}
	}
	return Result{Kind: KindEnvelope, Channel: ch, Peer: strings.Clone(peer)}
}

// ParseEnvelope reads an inbound envelope, "[<Channel> <from> ...] body", and
// returns the channel (lower-cased) and the sender's id: an E.164 number or
// a group id. <from> is the id itself (Clawdbot; OpenClaw when the sender
// has no display name) or "<label> id:<id>" (OpenClaw's
// formatInboundFromLabel: a DM sender's display name or a group's label,
// either of which may hold spaces; openclaw-formats.md §5).
func ParseEnvelope(text string) (channel, from string, ok bool) {
	if !strings.HasPrefix(text, "[") {
		return "", "", false
	}
	end := strings.IndexByte(text, ']')
	if end < 0 {
		return "", "", false
	}
	fields := strings.Fields(text[1:end])
	if len(fields) < 2 {
		return "", "", false
	}
	ch := strings.ToLower(fields[0])
	if !knownChannels[ch] {
		return "", "", false
	}
	from = fields[1]
	// The id comes after the label, and the label is a display name the
	// sender chooses, which may itself read " id:+…": the last marker is
	// the one OpenClaw wrote. Nothing after the id (elapsed time, host,
	// timestamp) holds one. OpenClaw neutralises brackets in the label, so
	// the first ']' ends the header and the body's own "id:" is never read.
	for i := len(fields) - 1; i >= 1; i-- {
		if f := fields[i]; len(f) > len("id:") && strings.EqualFold(f[:len("id:")], "id:") {
			from = f[len("id:"):]
			break
		}
	}
	from = strings.TrimPrefix(from, ch+":")
	return ch, from, true
}
