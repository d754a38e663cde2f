package parser

import (
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Fields names where a generic request log keeps each value, as dot paths
// ("usage.prompt_tokens"). Empty paths are not read.
type Fields struct {
	ID         string `mapstructure:"id" json:"id,omitempty"`
	Time       string `mapstructure:"time" json:"time,omitempty"`
	Customer   string `mapstructure:"customer" json:"customer,omitempty"`
	Session    string `mapstructure:"session" json:"session,omitempty"`
	Provider   string `mapstructure:"provider" json:"provider,omitempty"`
	Model      string `mapstructure:"model" json:"model,omitempty"`
	Input      string `mapstructure:"input_tokens" json:"input_tokens,omitempty"`
	Output     string `mapstructure:"output_tokens" json:"output_tokens,omitempty"`
	CacheRead  string `mapstructure:"cache_read_tokens" json:"cache_read_tokens,omitempty"`
	CacheWrite string `mapstructure:"cache_write_tokens" json:"cache_write_tokens,omitempty"`
	// Tokens is a total used when the log has no split; it is counted as input.
	Tokens string `mapstructure:"tokens" json:"tokens,omitempty"`
	Cost   string `mapstructure:"cost" json:"cost,omitempty"`
	// Error marks a failed request when present and not null, false, 0 or "".
	Error string `mapstructure:"error" json:"error,omitempty"`
}

// DefaultFields suits an OpenAI-style proxy log line.
func DefaultFields() Fields {
	return Fields{
		ID: "id", Time: "time", Customer: "customer", Model: "model", Provider: "provider",
		Input: "usage.prompt_tokens", Output: "usage.completion_tokens", Cost: "cost",
	}
}

// JSONL parses lines of any JSON-lines request log through configured paths.
type JSONL struct {
	p     fastjson.Parser
	paths [13][]string
}

// NewJSONL prepares a parser for the given field paths.
func NewJSONL(f Fields) *JSONL {
	j := &JSONL{}
	for i, s := range []string{f.ID, f.Time, f.Customer, f.Session, f.Provider, f.Model, f.Input, f.Output, f.CacheRead, f.CacheWrite, f.Tokens, f.Cost, f.Error} {
		if s != "" {
			j.paths[i] = strings.Split(s, ".")
		}
	}
	return j
}

const (
	fID = iota
	fTime
	fCustomer
	fSession
	fProvider
	fModel
	fInput
	fOutput
	fCacheRead
	fCacheWrite
	fTokens
	fCost
	fError
)

// Parse reads one request-log line. Every well-formed line with at least one
// token or cost field is a usage event; others are ignored.
func (j *JSONL) Parse(line []byte) Result {
	t, res, ok := shapeCheck(line)
	if !ok {
		return res
	}
	v, err := j.p.ParseBytes(t)
	if err != nil {
		return Result{Kind: KindBad, Err: fmt.Errorf("decode JSON: %w", err)}
	}
	get := func(i int) *fastjson.Value {
		if j.paths[i] == nil {
			return nil
		}
		x := v.Get(j.paths[i]...)
		if x != nil && x.Type() == fastjson.TypeNull {
			return nil
		}
		return x
	}
	var ev Event
	found := false
	for _, f := range []struct {
		i   int
		dst *int64
	}{{fInput, &ev.Input}, {fOutput, &ev.Output}, {fCacheRead, &ev.CacheRead}, {fCacheWrite, &ev.CacheWrite}, {fTokens, nil}} {
		x := get(f.i)
		if x == nil {
			continue
		}
		n, err := tokenCount(x)
		if err != nil {
			return bad(fmt.Errorf("field %s: %w", strings.Join(j.paths[f.i], "."), err))
		}
		found = true
		if f.dst != nil {
			*f.dst = n
		} else if ev.Input == 0 && ev.Output == 0 && ev.CacheRead == 0 && ev.CacheWrite == 0 {
			ev.Input = n
		}
	}
	// A null cost is unpriced (get treats null as absent).
	if x := get(fCost); x != nil {
		n, err := costUSD(x)
		if err != nil {
			return bad(fmt.Errorf("field %s: %w", strings.Join(j.paths[fCost], "."), err))
		}
		ev.CostUSD, ev.Priced, found = n, true, true
	}
	if !found {
		return Result{Kind: KindIgnored}
	}
	ev.EntryID = scalarString(get(fID))
	ev.Customer = scalarString(get(fCustomer))
	ev.SessionID = scalarString(get(fSession))
	ev.Provider = scalarString(get(fProvider))
	ev.Model = scalarString(get(fModel))
	if x := get(fError); x != nil {
		switch x.Type() {
		case fastjson.TypeFalse:
		case fastjson.TypeString:
			ev.Failed = len(x.GetStringBytes()) > 0
		case fastjson.TypeNumber:
			ev.Failed = x.GetFloat64() != 0
		default:
			ev.Failed = true
		}
	}
	if x := get(fTime); x != nil {
		ms, err := timeValue(x)
		if err != nil {
			return bad(fmt.Errorf("field %s: %w", strings.Join(j.paths[fTime], "."), err))
		}
		ev.TimeMs, ev.HasTime = ms, true
	}
	return Result{Kind: KindUsage, Event: ev}
}

func scalarString(x *fastjson.Value) string {
	if x == nil {
		return ""
	}
	switch x.Type() {
	case fastjson.TypeString:
		return string(x.GetStringBytes())
	case fastjson.TypeNumber:
		return x.String()
	}
	return ""
}

// timeValue reads an RFC 3339 time or an epoch number (seconds, or ms past
// 1e11), as a JSON number or a numeric string, within [MinTimeMs, MaxTimeMs].
func timeValue(x *fastjson.Value) (int64, error) {
	switch x.Type() {
	case fastjson.TypeNumber:
		return epochOf(x)
	case fastjson.TypeString:
		b := x.GetStringBytes()
		if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
			ms := t.UnixMilli()
			if ms < MinTimeMs || ms > MaxTimeMs {
				return 0, fmt.Errorf("%s %w", rawValue(x), errTimeRange)
			}
			return ms, nil
		}
		if _, ok := decimal(b); ok {
			return epochOf(x)
		}
		return 0, fmt.Errorf("%s is not RFC 3339 or an epoch number", rawValue(x))
	}
	return 0, fmt.Errorf("%s is not a time (RFC 3339 string or epoch number)", rawValue(x))
}
