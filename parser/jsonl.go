package parser

import (
	"errors"
	"fmt"
	"strconv"
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
		n, err := number(x)
		if err != nil || n < 0 {
			return bad(fmt.Errorf("field %s: not a non-negative number", strings.Join(j.paths[f.i], ".")))
		}
		found = true
		if f.dst != nil {
			*f.dst = int64(n)
		} else if ev.Input == 0 && ev.Output == 0 && ev.CacheRead == 0 && ev.CacheWrite == 0 {
			ev.Input = int64(n)
		}
	}
	if x := get(fCost); x != nil {
		n, err := number(x)
		if err != nil || n < 0 {
			return bad(fmt.Errorf("field %s: not a non-negative number", strings.Join(j.paths[fCost], ".")))
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
		ev.TimeMs = ms
	}
	return Result{Kind: KindUsage, Event: ev}
}

func number(x *fastjson.Value) (float64, error) {
	switch x.Type() {
	case fastjson.TypeNumber:
		f := x.GetFloat64()
		if f != f {
			return 0, errors.New("NaN")
		}
		return f, nil
	case fastjson.TypeString:
		return strconv.ParseFloat(string(x.GetStringBytes()), 64)
	}
	return 0, errors.New("not a number")
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

func timeValue(x *fastjson.Value) (int64, error) {
	switch x.Type() {
	case fastjson.TypeNumber:
		return epochToMs(x.GetFloat64()), nil
	case fastjson.TypeString:
		s := string(x.GetStringBytes())
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli(), nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return epochToMs(f), nil
		}
		return 0, fmt.Errorf("time %q: not RFC 3339 or epoch", s)
	}
	return 0, errors.New("time: not a string or number")
}
