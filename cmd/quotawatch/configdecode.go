package main

// Decoding the configuration into Config and explaining what went wrong in
// the user's words: the key as written in YAML (list indexes from 0, as
// yq and jq count them), the expected type, the nearest known key.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/quotawatch/quotawatch/parser"
)

// decodeConfig unmarshals v into c. Unknown keys come from the decoder's own
// metadata (mapstructure's Metadata.Unused), never from its error text.
func decodeConfig(v *viper.Viper, c *Config) error {
	var md mapstructure.Metadata
	err := v.Unmarshal(c, func(dc *mapstructure.DecoderConfig) {
		dc.Metadata = &md
		// viper's default hooks read a bare number as nanoseconds; this
		// one refuses it (strictDuration) and keeps the string hooks.
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(strictDuration, wholeNumbers, mapstructure.StringToSliceHookFunc(","))
	})
	if err != nil {
		return decodeError(err)
	}
	if len(md.Unused) > 0 {
		return unknownKeys(md.Unused)
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// durationError is a duration written as anything but a Go duration string.
type durationError struct{ got any }

func (e *durationError) Error() string {
	return fmt.Sprintf("want a duration like \"30s\", got %s", shownValue(e.got))
}

// strictDuration decodes a duration from a string only: a bare 5 would
// otherwise be 5 ns (a rescan every 5 ns is a busy loop, not a mistake
// anyone means).
func strictDuration(f, t reflect.Type, data any) (any, error) {
	if t != durationType {
		return data, nil
	}
	if f.Kind() != reflect.String {
		return nil, &durationError{got: data}
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, &durationError{got: data}
	}
	return d, nil
}

// fractionError is a number with a fraction where a count is wanted.
type fractionError struct{ got float64 }

func (e *fractionError) Error() string {
	return fmt.Sprintf("want an integer, got %v", e.got)
}

// wholeNumbers refuses 1.5 for an integer key: mapstructure would cut it to
// 1, and a limit of 1.5 requests silently becoming 1 is a wrong bill.
func wholeNumbers(f, t reflect.Type, data any) (any, error) {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	if t == durationType || (f.Kind() != reflect.Float32 && f.Kind() != reflect.Float64) {
		return data, nil
	}
	if x := reflect.ValueOf(data).Float(); x != math.Trunc(x) {
		return nil, &fractionError{got: x}
	}
	return data, nil
}

// decodeError turns mapstructure's errors (joined, one per bad key) into one
// ConfigError naming the first key, the type it wants and what it got.
func decodeError(err error) error {
	var des []*mapstructure.DecodeError
	collectDecodeErrors(err, &des)
	if len(des) == 0 {
		return cfgErr("", "%s", oneLine(err.Error()))
	}
	sort.SliceStable(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	key, _ := configPath(des[0].Name())
	reason := decodeReason(errors.Unwrap(des[0]))
	if len(des) > 1 {
		more := make([]string, 0, len(des)-1)
		for _, d := range des[1:] {
			k, _ := configPath(d.Name())
			more = append(more, k)
		}
		reason += "; also wrong: " + strings.Join(more, ", ")
	}
	return &ConfigError{Key: key, Reason: reason}
}

// collectDecodeErrors finds the innermost DecodeErrors of a tree of joined
// errors (an unknown nested error counts as its parent's).
func collectDecodeErrors(err error, out *[]*mapstructure.DecodeError) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectDecodeErrors(e, out)
		}
		return
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		n := len(*out)
		if inner := errors.Unwrap(de); inner != nil {
			collectDecodeErrors(inner, out)
		}
		if len(*out) == n {
			*out = append(*out, de)
		}
		return
	}
	// mapstructure wraps the whole list ("decoding failed due to ...").
	if inner := errors.Unwrap(err); inner != nil {
		collectDecodeErrors(inner, out)
	}
}

// decodeReason says what the decoder wanted, in the user's words.
func decodeReason(err error) string {
	var de *durationError
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	var fe *fractionError
	switch {
	case errors.As(err, &de):
		return de.Error()
	case errors.As(err, &fe):
		return fe.Error()
	case errors.As(err, &pe):
		return fmt.Sprintf("want %s, got %s", typeWords(pe.Expected.Type()), shownValue(pe.Value))
	case errors.As(err, &ue):
		return fmt.Sprintf("want %s, got %s", typeWords(ue.Expected.Type()), shownValue(ue.Value))
	case err == nil:
		return "invalid value"
	}
	return oneLine(err.Error())
}

// typeWords names a Go type the way a YAML author thinks of it.
func typeWords(t reflect.Type) string {
	if t == durationType {
		return `a duration like "30s"`
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value)"
	}
	return t.String()
}

// shownValue shows a decoded YAML value briefly: strings quoted, lists and
// mappings by their kind (they can be long).
func shownValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "nothing"
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// unknownKeys reports the keys nothing in Config reads, the first with the
// nearest known key at its place.
func unknownKeys(unused []string) error {
	keys := slices.Sorted(slices.Values(unused))
	describe := func(raw string) string {
		key, _ := configPath(raw)
		parent, leaf := "", raw
		if i := strings.LastIndexByte(raw, '.'); i >= 0 {
			parent, leaf = raw[:i], raw[i+1:]
		}
		_, t := configPath(parent)
		if s := nearest(leaf, structKeys(t)); s != "" {
			return fmt.Sprintf("%s (did you mean %q?)", key, s)
		}
		return key
	}
	first := describe(keys[0])
	key, reason := first, "unknown key"
	if i := strings.Index(first, " ("); i >= 0 {
		key, reason = first[:i], "unknown key"+first[i:]
	}
	if len(keys) > 1 {
		more := make([]string, 0, len(keys)-1)
		for _, k := range keys[1:] {
			more = append(more, describe(k))
		}
		reason += "; also unknown: " + strings.Join(more, ", ")
	}
	return &ConfigError{Key: key, Reason: reason}
}

// configPath turns a decoder field name ("customers[1].match.peer",
// "tiers[basic].requets") into the key as the user writes it
// ("customers[1].match.peer", "tiers.basic.requets") and returns the Go
// type at that place (nil once the path leaves Config's fields).
func configPath(name string) (string, reflect.Type) {
	t := reflect.TypeFor[Config]()
	var b strings.Builder
	rest := name
	for rest != "" {
		seg := rest
		if i := strings.IndexAny(rest, ".["); i >= 0 {
			seg, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		if seg != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
			t = fieldType(t, seg)
		}
		for strings.HasPrefix(rest, "[") {
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				b.WriteString(rest)
				return b.String(), nil
			}
			idx := rest[1:j]
			rest = rest[j+1:]
			switch {
			case t != nil && t.Kind() == reflect.Map:
				b.WriteString("." + idx)
				t = t.Elem()
			case t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
				b.WriteString("[" + idx + "]")
				t = t.Elem()
			default:
				b.WriteString("[" + idx + "]")
				t = nil
			}
		}
		rest = strings.TrimPrefix(rest, ".")
	}
	return b.String(), t
}

// mapKey is a struct field's key in the configuration.
func mapKey(f reflect.StructField) string {
	if tag, ok := f.Tag.Lookup("mapstructure"); ok {
		name, _, _ := strings.Cut(tag, ",")
		return name
	}
	return strings.ToLower(f.Name)
}

// fieldType is the type of t's field keyed name (case-insensitive, as viper
// lower-cases keys), nil when there is none.
func fieldType(t reflect.Type, name string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && strings.EqualFold(mapKey(f), name) {
			return f.Type
		}
	}
	return nil
}

// structKeys lists the keys a struct type reads.
func structKeys(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && mapKey(f) != "-" {
			keys = append(keys, mapKey(f))
		}
	}
	return keys
}

// maxSuggestDistance bounds a suggestion: two edits catch a typo or a
// transposition (teir → tier) without proposing unrelated keys.
const maxSuggestDistance = 2

// nearest is the candidate closest to s by edit distance, if within
// maxSuggestDistance ("" otherwise; the first of equally close ones).
func nearest(s string, candidates []string) string {
	best, bestD := "", maxSuggestDistance+1
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, by runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// envPrefix is the prefix of the environment variables quotawatch reads.
const envPrefix = "QUOTAWATCH_"

// envConfigFile names the config file, after --config and before the
// files discovery looks for.
const envConfigFile = envPrefix + "CONFIG"

// envName is the environment variable that overrides key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// unknownEnv warns of each QUOTAWATCH_* variable quotawatch does not read:
// a misspelt override would otherwise be ignored without a word. The
// secret variables named by the config (notify.whatsapp.token_env,
// http.auth_token_env, …) are read, whatever their names.
func unknownEnv(environ []string, secretEnvs ...string) []string {
	known := []string{envConfigFile}
	for k := range defaults {
		known = append(known, envName(k))
	}
	sort.Strings(known)
	var warns []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(secretEnvs, name) || slices.Contains(known, name) {
			continue
		}
		w := "environment variable " + name + " is not a quotawatch setting and is ignored"
		if s := nearest(name, known); s != "" {
			w += fmt.Sprintf(" (did you mean %s?)", s)
		}
		warns = append(warns, w)
	}
	sort.Strings(warns)
	return warns
}

// expandPath resolves $VAR, ${VAR} and a leading ~ in a path key, the way a
// shell would; $$ is a literal $. An unset variable is an error rather than
// an empty string, which would silently move the path (to /sessions, say).
func expandPath(key, p string) (string, error) {
	var missing []string
	p = os.Expand(p, func(name string) string {
		if name == "$" {
			return "$"
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, "$"+name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", cfgErr(key, "%s is not set in the environment", strings.Join(missing, ", "))
	}
	return expandHome(p), nil
}

// channelsOnlyInSessions are channel names that appear in session keys and
// OpenClaw's conversations but never as an inbound envelope label.
var channelsOnlyInSessions = []string{"webchat"}

// knownChannels is every channel name match.channel may name.
func knownChannels() []string {
	cs := append(parser.Channels(), channelsOnlyInSessions...)
	sort.Strings(cs)
	return slices.Compact(cs)
}
