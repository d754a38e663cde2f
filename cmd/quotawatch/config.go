package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"github.com/spf13/viper"
	"golang.org/x/text/currency"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/enforce"
	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/redismirror"
	"github.com/quotawatch/quotawatch/report"
)

// ConfigError is a configuration problem: exit 2, one line naming the key.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return "config: " + e.Reason
	}
	return "config: " + e.Key + ": " + e.Reason
}

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// SourceConfig is one entry of `sources`.
type SourceConfig struct {
	Type   string        `mapstructure:"type" json:"type"`
	Dir    string        `mapstructure:"dir" json:"dir,omitempty"`
	Path   string        `mapstructure:"path" json:"path,omitempty"`
	Name   string        `mapstructure:"name" json:"name,omitempty"`
	Fields parser.Fields `mapstructure:"fields" json:"fields,omitempty"`
}

// Config is the whole configuration file.
type Config struct {
	Timezone string `mapstructure:"timezone" json:"timezone"`
	Store    struct {
		Path string `mapstructure:"path" json:"path"`
	} `mapstructure:"store" json:"store"`
	Sources         []SourceConfig         `mapstructure:"sources" json:"sources"`
	Tiers           map[string]report.Tier `mapstructure:"tiers" json:"tiers"`
	Customers       []report.Customer      `mapstructure:"customers" json:"customers"`
	DefaultCustomer string                 `mapstructure:"default_customer" json:"default_customer,omitempty"`
	Prices          []monitor.Price        `mapstructure:"prices" json:"prices,omitempty"`
	Monitor         struct {
		MaxLineBytes int           `mapstructure:"max_line_bytes" json:"max_line_bytes"`
		BatchEvents  int           `mapstructure:"batch_events" json:"batch_events"`
		Rescan       time.Duration `mapstructure:"rescan_interval" json:"rescan_interval"`
	} `mapstructure:"monitor" json:"monitor"`
	Alerts alerts.Config       `mapstructure:"alerts" json:"alerts"`
	Notify alerts.NotifyConfig `mapstructure:"notify" json:"notify"`
	HTTP   struct {
		Listen string `mapstructure:"listen" json:"listen"`
		// The dashboard's bearer token comes from the environment variable
		// AuthTokenEnv names, else from AuthTokenFile; never from the file.
		AuthTokenEnv  string `mapstructure:"auth_token_env" json:"auth_token_env"`
		AuthTokenFile string `mapstructure:"auth_token_file" json:"auth_token_file"`
	} `mapstructure:"http" json:"http"`
	Log struct {
		Level string `mapstructure:"level" json:"level"`
		// Format is text (slog's key=value) or json (one object a line).
		Format string `mapstructure:"format" json:"format"`
	} `mapstructure:"log" json:"log"`
	Enforce enforce.Config     `mapstructure:"enforce" json:"enforce"`
	Redis   redismirror.Config `mapstructure:"redis" json:"redis"`

	// Resolved by validate.
	loc  *time.Location
	file string
	// customers indexes Customers by id. It is the one index and the one
	// Book every consumer shares: each Book's index of 8,250 customers is
	// 0.4 MiB live for as long as run runs (issue 13).
	customers *report.Book

	// fileFrom says how discovery found file; tried lists where it looked
	// when it found none.
	fileFrom string
	tried    []string
	// warnings are problems that do not stop any command (an unknown
	// QUOTAWATCH_* variable); setup logs them.
	warnings []string
	// sourceErrs are sources that cannot be read yet (a state dir not
	// created yet): run and backfill refuse to start, config check warns,
	// the read commands do not care.
	sourceErrs []error
}

// defaults are set for every scalar key, which is also what lets viper's
// Unmarshal see QUOTAWATCH_<KEY> environment overrides (go-libraries.md).
var defaults = map[string]any{
	"timezone":                          "Asia/Riyadh",
	"store.path":                        "./quotawatch.db",
	"default_customer":                  "",
	"monitor.max_line_bytes":            monitor.DefaultMaxLineBytes,
	"monitor.batch_events":              monitor.DefaultBatchEvents,
	"monitor.rescan_interval":           monitor.DefaultRescan.String(),
	"alerts.schedule":                   "*/5 * * * *",
	"alerts.digest_schedule":            "0 9 * * *",
	"alerts.language":                   "ar",
	"alerts.upgrade_url":                "",
	"alerts.operator_phone":             "",
	"alerts.degraded_after_limit":       false,
	"notify.channel":                    "log",
	"notify.whatsapp.api_base":          "https://graph.facebook.com/v25.0",
	"notify.whatsapp.phone_number_id":   "",
	"notify.whatsapp.token_env":         "QUOTAWATCH_WHATSAPP_TOKEN",
	"notify.whatsapp.token_file":        "",
	"notify.whatsapp.template":          "",
	"notify.whatsapp.template_language": "",
	"notify.whatsapp.template_mode":     "fallback",
	"notify.whatsapp.operator_template": "",
	"notify.whatsapp.timeout":           "20s",
	"notify.clawdbot.command":           "clawdbot",
	"notify.clawdbot.timeout":           "30s",
	"notify.webhook.url":                "",
	"notify.webhook.timeout":            "20s",
	"notify.retry.base":                 "30s",
	"notify.retry.max":                  "1h",
	"notify.retry.attempts":             10,
	"http.listen":                       "",
	"http.auth_token_env":               "",
	"http.auth_token_file":              "",
	"log.level":                         "info",
	"log.format":                        "text",
	"enforce.listen":                    "",
	"enforce.mode":                      report.EnforceOff,
	"enforce.grace_percent":             enforce.DefaultGracePercent,
	"enforce.unknown_customer":          enforce.UnknownAllow,
	"enforce.inflight_timeout":          enforce.DefaultInflightTimeout.String(),
	"redis.addr":                        "",
	"redis.password_env":                "QUOTAWATCH_REDIS_PASSWORD",
	"redis.db":                          0,
	"redis.resync_interval":             redismirror.DefaultResync.String(),
}

// systemConfigFile is the last place discovery looks. A package for a
// system that keeps configuration elsewhere sets it at build time:
// -ldflags "-X main.systemConfigFile=/usr/local/etc/quotawatch/config.yaml".
var systemConfigFile = "/etc/quotawatch/config.yaml"

// configLocation is where discovery found the config file.
type configLocation struct {
	path  string   // "" when there is none
	from  string   // how it was found: --config, $QUOTAWATCH_CONFIG, ...
	tried []string // where it looked, when path is ""
}

// findConfig returns the file to read, the first of: --config,
// $QUOTAWATCH_CONFIG, ./quotawatch.yaml, $XDG_CONFIG_HOME/quotawatch/config.yaml
// (default ~/.config/quotawatch/config.yaml), /etc/quotawatch/config.yaml.
// A file named by the flag or the variable must exist; a candidate that
// exists but cannot be looked at is an error, not a reason to read another.
func findConfig(flag string) (configLocation, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return configLocation{}, cfgErr("--config", "%v", err)
		}
		return configLocation{path: flag, from: "--config"}, nil
	}
	if env := os.Getenv(envConfigFile); env != "" {
		if _, err := os.Stat(env); err != nil {
			return configLocation{}, cfgErr("$"+envConfigFile, "%v", err)
		}
		return configLocation{path: env, from: "$" + envConfigFile}, nil
	}
	type candidate struct{ path, from string }
	cands := []candidate{{"quotawatch.yaml", "./quotawatch.yaml"}}
	// The XDG spec ignores a relative $XDG_CONFIG_HOME.
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		p := filepath.Join(x, "quotawatch", "config.yaml")
		cands = append(cands, candidate{p, p + " ($XDG_CONFIG_HOME)"})
	} else if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".config", "quotawatch", "config.yaml")
		cands = append(cands, candidate{p, p})
	}
	cands = append(cands, candidate{systemConfigFile, systemConfigFile})
	var tried []string
	for _, c := range cands {
		_, err := os.Stat(c.path)
		if err == nil {
			return configLocation{path: c.path, from: c.from}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return configLocation{}, cfgErr("", "look for the config file: %v", err)
		}
		tried = append(tried, c.from)
	}
	return configLocation{tried: tried}, nil
}

// loadConfig reads, decodes and validates the configuration.
func loadConfig(file, dbFlag string) (*Config, error) {
	defer parseMemory()()
	return readConfig(file, dbFlag)
}

// readConfig is loadConfig without the memory handling: everything it
// allocates but the Config is garbage once it returns.
func readConfig(file, dbFlag string) (*Config, error) {
	where, err := findConfig(file)
	if err != nil {
		return nil, err
	}
	path := where.path
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("QUOTAWATCH")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		if filepath.Ext(path) == "" {
			v.SetConfigType("yaml")
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, cfgErr("", "read %s: %s", path, oneLine(err.Error()))
		}
	}
	// A token written into the file would be read by anyone who can read
	// the config; refuse it by name before the generic unknown-key error.
	if v.InConfig("notify.whatsapp.token") {
		return nil, cfgErr("notify.whatsapp.token", "a token must not be written in the config; put it in the environment variable named by notify.whatsapp.token_env or in notify.whatsapp.token_file")
	}
	var c Config
	if err := decodeConfig(v, &c); err != nil {
		return nil, err
	}
	// viper drops empty maps when unmarshalling, so `pro: {}` (an unlimited
	// tier) must be recovered from the raw keys.
	for name := range v.GetStringMap("tiers") {
		if _, ok := c.Tiers[name]; !ok {
			if c.Tiers == nil {
				c.Tiers = map[string]report.Tier{}
			}
			c.Tiers[name] = report.Tier{}
		}
	}
	c.file, c.fileFrom, c.tried = path, where.from, where.tried
	if path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			c.file = abs
		}
	}
	c.warnings = unknownEnv(os.Environ(), c.Notify.WhatsApp.TokenEnv, c.HTTP.AuthTokenEnv, c.Redis.PasswordEnv)
	if dbFlag != "" {
		c.Store.Path = dbFlag
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// expandHome resolves a leading ~/ the way a shell would.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

func (c *Config) validate() error {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return cfgErr("timezone", "invalid timezone %q", c.Timezone)
	}
	c.loc = loc
	if c.Store.Path == "" {
		return cfgErr("store.path", "must not be empty")
	}
	if c.Store.Path, err = expandPath("store.path", c.Store.Path); err != nil {
		return err
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		key := fmt.Sprintf("sources[%d]", i)
		switch s.Type {
		case monitor.SourceClawdbot, monitor.SourceOpenClaw, "":
			// Both read whatever the state dir holds (JSONL transcripts,
			// SQLite databases): the type only says which product it is.
			if s.Type == "" {
				s.Type = monitor.SourceClawdbot
			}
			// A state dir that is not there yet (OpenClaw installed after
			// quotawatch) stops run and backfill, not the other commands.
			if s.Dir == "" {
				home, _ := os.UserHomeDir()
				d, ok := monitor.DefaultStateDir(os.Getenv, home)
				if !ok {
					c.sourceErrs = append(c.sourceErrs, cfgErr(key+".dir", "not set, and no default state dir exists (%s)", strings.Join(monitor.DefaultStateDirs(os.Getenv, home), ", ")))
					continue
				}
				s.Dir = d
			}
			d, err := expandPath(key+".dir", s.Dir)
			if err != nil {
				c.sourceErrs = append(c.sourceErrs, err)
				continue
			}
			s.Dir = d
			if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
				c.sourceErrs = append(c.sourceErrs, cfgErr(key+".dir", "%s is not a directory", s.Dir))
			}
		case monitor.SourceJSONL:
			if s.Path == "" {
				return cfgErr(key+".path", "required for a jsonl source")
			}
			if s.Path, err = expandPath(key+".path", s.Path); err != nil {
				return err
			}
			if _, err := filepath.Match(s.Path, ""); err != nil {
				return cfgErr(key+".path", "bad glob: %v", err)
			}
			if dir := filepath.Dir(s.Path); !strings.ContainsAny(dir, "*?[") {
				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
					c.sourceErrs = append(c.sourceErrs, cfgErr(key+".path", "directory %s does not exist", dir))
				}
			}
			if s.Name == "" {
				s.Name = fmt.Sprintf("jsonl%d", i)
			}
			if s.Fields == (parser.Fields{}) {
				s.Fields = parser.DefaultFields()
			}
		default:
			return cfgErr(key+".type", "unknown source type %q (clawdbot, openclaw or jsonl)", s.Type)
		}
	}
	for name, t := range c.Tiers {
		if t.Requests < 0 || t.Tokens < 0 || t.CostUSD < 0 {
			return cfgErr("tiers."+name, "limits must not be negative")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tiers)) {
		t, err := validateOffer(name, c.Tiers)
		if err != nil {
			return err
		}
		c.Tiers[name] = t
	}
	// One copy of each tier, which its customers point at.
	tiers := make(map[string]*report.Tier, len(c.Tiers))
	for name, t := range c.Tiers {
		tiers[name] = &t
	}
	seen := make(map[string]struct{}, len(c.Customers))
	for i := range c.Customers {
		cu := &c.Customers[i]
		key := fmt.Sprintf("customers[%d]", i)
		if cu.ID == "" {
			return cfgErr(key+".id", "required")
		}
		if cu.ID == report.Unassigned {
			return cfgErr(key+".id", "%q is reserved", cu.ID)
		}
		if _, dup := seen[cu.ID]; dup {
			return cfgErr(key+".id", "duplicate customer id %q", cu.ID)
		}
		seen[cu.ID] = struct{}{}
		if cu.Tier != "" {
			if _, ok := c.Tiers[strings.ToLower(cu.Tier)]; !ok {
				return cfgErr(key+".tier", "unknown tier %q", cu.Tier)
			}
			cu.Tier = strings.ToLower(cu.Tier)
			cu.Limits = tiers[cu.Tier]
		}
		if cu.Timezone != "" {
			l, err := time.LoadLocation(cu.Timezone)
			if err != nil {
				return cfgErr(key+".timezone", "invalid timezone %q", cu.Timezone)
			}
			cu.Location = l
		}
		if cu.Match.SessionKey != "" {
			if _, err := filepath.Match(cu.Match.SessionKey, ""); err != nil {
				return cfgErr(key+".match.session_key", "bad glob: %v", err)
			}
		}
		if err := validateMatch(key+".match", cu.Match, c.readsTranscripts()); err != nil {
			return err
		}
	}
	c.customers = report.NewBook(c.Customers, c.loc)
	if c.DefaultCustomer != "" {
		if !c.hasCustomer(c.DefaultCustomer) {
			return cfgErr("default_customer", "%q is not a configured customer id", c.DefaultCustomer)
		}
	}
	for i, p := range c.Prices {
		if p.Model == "" {
			return cfgErr(fmt.Sprintf("prices[%d].model", i), "required")
		}
		if p.Input < 0 || p.Output < 0 || p.CacheRead < 0 || p.CacheWrite < 0 {
			return cfgErr(fmt.Sprintf("prices[%d]", i), "prices must not be negative")
		}
	}
	if c.Monitor.MaxLineBytes < 1024 {
		return cfgErr("monitor.max_line_bytes", "must be at least 1024")
	}
	if c.Monitor.BatchEvents < 1 {
		return cfgErr("monitor.batch_events", "must be at least 1")
	}
	if c.Monitor.Rescan < time.Second {
		return cfgErr("monitor.rescan_interval", "must be at least 1s")
	}
	for _, k := range []struct {
		key string
		p   *string
	}{{"notify.whatsapp.token_file", &c.Notify.WhatsApp.TokenFile}, {"notify.clawdbot.command", &c.Notify.Clawdbot.Command}} {
		if *k.p == "" {
			continue
		}
		if *k.p, err = expandPath(k.key, *k.p); err != nil {
			return err
		}
	}
	if err := c.validateAlerts(); err != nil {
		return err
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
	if err := c.validateEnforce(); err != nil {
		return err
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return cfgErr("log.level", "unknown level %q", c.Log.Level)
	}
	c.Log.Format = strings.ToLower(c.Log.Format)
	switch c.Log.Format {
	case "text", "json":
	default:
		return cfgErr("log.format", "unknown format %q (text or json)", c.Log.Format)
	}
	return nil
}

// whatsAppPeer is a WhatsApp number as session keys and envelopes carry
// it: E.164, the + and 8 to 15 digits.
var whatsAppPeer = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// whatsAppGroup is a WhatsApp group id (JID), old (<creator>-<time>) or new.
var whatsAppGroup = regexp.MustCompile(`^[0-9]+(-[0-9]+)?@g\.us$`)

// readsTranscripts says whether a Clawdbot/OpenClaw source is configured
// (or none is: the read commands assume one), i.e. whether peers are
// WhatsApp numbers rather than a generic log's free-form customer values.
func (c *Config) readsTranscripts() bool {
	for _, s := range c.Sources {
		if s.Type != monitor.SourceJSONL {
			return true
		}
	}
	return len(c.Sources) == 0
}

// validateMatch refuses a peer or channel no event can carry, which would
// silently bill that customer's calls to the default. whatsApp says peers
// without a channel are WhatsApp numbers (transcripts are read).
func validateMatch(key string, m report.Match, whatsApp bool) error {
	if m.Channel != "" {
		known := knownChannels()
		if !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, m.Channel) }) {
			hint := ""
			if s := nearest(m.Channel, known); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return cfgErr(key+".channel", "unknown channel %q%s; known: %s", m.Channel, hint, strings.Join(known, ", "))
		}
	}
	// Other channels have their own id formats (Telegram's numeric ids,
	// Discord's snowflakes), and a generic log's customer value is whatever
	// the proxy writes: only a WhatsApp peer has a shape to check.
	if m.Peer != "" && (strings.EqualFold(m.Channel, "whatsapp") || (m.Channel == "" && whatsApp)) {
		p := strings.ToLower(strings.TrimSpace(m.Peer))
		p = strings.TrimPrefix(p, "whatsapp:")
		if !whatsAppPeer.MatchString(p) && !whatsAppGroup.MatchString(p) {
			return cfgErr(key+".peer", "want a WhatsApp number in E.164 (+ and 8 to 15 digits, e.g. +966500000001) or a group id ending in @g.us, got %q", m.Peer)
		}
	}
	return nil
}

// sourcesReady says why `what` cannot read the configured sources (none
// configured, or one not there yet); nil when it can.
func (c *Config) sourcesReady(what string) error {
	if len(c.Sources) == 0 {
		if c.file == "" {
			return cfgErr("sources", "no config file found (looked for %s), so no source is configured; %s needs at least one", strings.Join(c.tried, ", "), what)
		}
		return cfgErr("sources", "no source configured in %s; %s needs at least one", c.file, what)
	}
	if len(c.sourceErrs) > 0 {
		return c.sourceErrs[0]
	}
	return nil
}

// attributor builds the monitor's view of customers, over the one book.
func (c *Config) attributor() *monitor.Attributor {
	b := c.customers
	if b == nil { // not validated (never in the commands)
		b = report.NewBook(c.Customers, c.loc)
	}
	return monitor.NewBookAttributor(b, c.DefaultCustomer)
}

// book is the report room's view of the configured customers, built once
// by validate.
func (c *Config) book() *report.Book {
	return c.customers
}

// hasCustomer reports whether id is a configured customer's.
func (c *Config) hasCustomer(id string) bool {
	_, ok := c.customers.Customer(id)
	return ok
}

// monitorConfig builds the monitor's part.
func (c *Config) monitorConfig() monitor.Config {
	mc := monitor.Config{Prices: c.Prices, MaxLineBytes: c.Monitor.MaxLineBytes, BatchEvents: c.Monitor.BatchEvents, Rescan: c.Monitor.Rescan}
	for _, s := range c.Sources {
		mc.Sources = append(mc.Sources, monitor.SourceConfig{Type: s.Type, Dir: s.Dir, Path: s.Path, Name: s.Name, Fields: s.Fields})
	}
	return mc
}

// e164 is a phone number as the WhatsApp Cloud API needs it: with the
// leading +, or Meta prepends the business number's country code.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// validatePreWarning checks a threshold's pre-warning keys: a pre-warning
// has projected_percent (at least 100: the message names the day the
// limit is reached) and no percent or flag, min_percent below 100, and no
// two share a projected_percent (it is their identity in the outbox).
func validatePreWarning(key string, t alerts.Threshold, seen map[float64]bool) error {
	switch {
	case t.ProjectedPercent < 0 || t.ProjectedPercent > 1e6:
		return cfgErr(key+".projected_percent", "want a percentage of at least 100, got %g", t.ProjectedPercent)
	case !t.Pace() && t.MinPercent != 0:
		return cfgErr(key+".min_percent", "only a pre-warning (projected_percent) has min_percent")
	case !t.Pace():
		return nil
	case t.Percent != 0:
		return cfgErr(key+".percent", "a pre-warning has projected_percent instead of percent")
	case t.ProjectedPercent < 100:
		return cfgErr(key+".projected_percent", "want a percentage of at least 100 (the limit reached by the end of the month), got %g", t.ProjectedPercent)
	case !(t.MinPercent >= 0 && t.MinPercent < 100):
		return cfgErr(key+".min_percent", "want 0 up to below 100, got %g", t.MinPercent)
	case t.Flag:
		return cfgErr(key+".flag", "a pre-warning cannot flag; flag a percent threshold")
	case seen[t.ProjectedPercent]:
		return cfgErr(key+".projected_percent", "two pre-warnings at projected %g%%", t.ProjectedPercent)
	}
	seen[t.ProjectedPercent] = true
	return nil
}

// validateOffer checks the upgrade offer keys of tiers[name] and returns
// the tier normalised (upgrade_to lower-cased like tier keys, the currency
// upper-cased). A tier's upgrade_to must name another, bigger tier that has
// a display_name; a price needs its currency and a display_name, and the
// other way round.
func validateOffer(name string, tiers map[string]report.Tier) (report.Tier, error) {
	t, key := tiers[name], "tiers."+name
	t.DisplayName = strings.TrimSpace(t.DisplayName)
	if strings.ContainsFunc(t.DisplayName, unicode.IsControl) || utf8.RuneCountInString(t.DisplayName) > 60 {
		return t, cfgErr(key+".display_name", "want a plan name of at most 60 characters on one line, got %q", t.DisplayName)
	}
	switch {
	case math.IsNaN(t.Price) || t.Price < 0 || t.Price > 1e9:
		return t, cfgErr(key+".price", "want a monthly price of 0 up to 1e9, got %g", t.Price)
	case t.Price > 0 && t.Currency == "":
		return t, cfgErr(key+".currency", "required with price (an ISO 4217 code such as SAR)")
	case t.Price == 0 && t.Currency != "":
		return t, cfgErr(key+".price", "required with currency")
	case t.Price > 0 && t.DisplayName == "":
		return t, cfgErr(key+".display_name", "required with price (the plan's name in the upgrade offer)")
	}
	if t.Currency != "" {
		u, err := currency.ParseISO(strings.ToUpper(t.Currency))
		if err != nil {
			return t, cfgErr(key+".currency", "want an ISO 4217 code such as SAR, AED or USD, got %q", t.Currency)
		}
		t.Currency = u.String()
	}
	if t.UpgradeTo == "" {
		return t, nil
	}
	t.UpgradeTo = strings.ToLower(strings.TrimSpace(t.UpgradeTo))
	to, ok := tiers[t.UpgradeTo]
	switch {
	case t.UpgradeTo == name:
		return t, cfgErr(key+".upgrade_to", "a tier cannot upgrade to itself")
	case !ok:
		return t, cfgErr(key+".upgrade_to", "unknown tier %q (one of %s)", t.UpgradeTo, strings.Join(slices.Sorted(maps.Keys(tiers)), ", "))
	case strings.TrimSpace(to.DisplayName) == "":
		return t, cfgErr("tiers."+t.UpgradeTo+".display_name", "required: tier %q is the upgrade of %q, and the offer names the plan", t.UpgradeTo, name)
	}
	// Offering a plan with less of any measure would be a downgrade.
	for _, m := range []struct {
		unit     string
		from, to float64
	}{{"requests", float64(t.Requests), float64(to.Requests)}, {"tokens", float64(t.Tokens), float64(to.Tokens)}, {"cost_usd", t.CostUSD, to.CostUSD}} {
		if m.to > 0 && (m.from <= 0 || m.to < m.from) {
			return t, cfgErr(key+".upgrade_to", "tier %q is not a bigger plan than %q (%s: %g, %s has %s)", t.UpgradeTo, name, m.unit, m.to, name, limitText(m.from))
		}
	}
	return t, nil
}

func limitText(v float64) string {
	if v <= 0 {
		return "no limit"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// validateAlerts checks the alerts and notify keys, so a mistake is refused
// at start with its key rather than found at a customer's 80 %.
func (c *Config) validateAlerts() error {
	al := &c.Alerts
	if len(al.Thresholds) == 0 {
		al.Thresholds = alerts.DefaultThresholds()
	}
	hasOperator, hasCustomer := false, false
	prev, pace := 0.0, map[float64]bool{}
	for i, t := range al.Thresholds {
		key := fmt.Sprintf("alerts.thresholds[%d]", i)
		if err := validatePreWarning(key, t, pace); err != nil {
			return err
		}
		if !t.Pace() {
			if !(t.Percent > 0) || t.Percent > 1e6 {
				return cfgErr(key+".percent", "must be a positive percentage, got %g", t.Percent)
			}
			if t.Percent <= prev {
				return cfgErr(key+".percent", "thresholds must be sorted ascending without repeats (%g after %g)", t.Percent, prev)
			}
			prev = t.Percent
		}
		switch t.To {
		case alerts.ToCustomer:
			hasCustomer = true
		case alerts.ToOperator:
			hasOperator = true
		default:
			return cfgErr(key+".to", "want customer or operator, got %q", t.To)
		}
	}
	if al.Schedule != "" {
		if _, err := cron.ParseStandard(al.Schedule); err != nil {
			return cfgErr("alerts.schedule", "bad cron spec %q: %v", al.Schedule, err)
		}
	}
	if al.DigestSchedule != "" {
		if _, err := cron.ParseStandard(al.DigestSchedule); err != nil {
			return cfgErr("alerts.digest_schedule", "bad cron spec %q: %v", al.DigestSchedule, err)
		}
	}
	if !alerts.KnownLanguage(al.Language) {
		return cfgErr("alerts.language", "want one of %s, got %q", strings.Join(alerts.Languages, ", "), al.Language)
	}
	if al.UpgradeURL != "" {
		if u, err := url.Parse(al.UpgradeURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfgErr("alerts.upgrade_url", "want an http(s) URL, got %q", al.UpgradeURL)
		}
	}
	if al.OperatorPhone != "" && !e164.MatchString(al.OperatorPhone) {
		return cfgErr("alerts.operator_phone", "want E.164 with the leading +, e.g. +966500000000, got %q", al.OperatorPhone)
	}
	for k := range al.Templates {
		p, lang, err := alerts.ParseOverrideKey(k)
		if err != nil {
			return cfgErr("alerts.templates."+k, "%v", err)
		}
		found := false
		for _, t := range al.Thresholds {
			found = found || t.Key() == p
		}
		if !found {
			return cfgErr("alerts.templates."+k, "no threshold at %s%%", alerts.FormatThreshold(p))
		}
		if lang != "" && !alerts.KnownLanguage(lang) {
			return cfgErr("alerts.templates."+k, "unknown language %q", lang)
		}
	}
	if _, err := alerts.NewTemplates(al.Templates); err != nil {
		return cfgErr("alerts.templates", "%v", err)
	}
	for i, cu := range c.Customers {
		key := fmt.Sprintf("customers[%d]", i)
		if cu.Phone != "" && !e164.MatchString(cu.Phone) {
			return cfgErr(key+".phone", "want E.164 with the leading +, e.g. +966500000001, got %q", cu.Phone)
		}
		if cu.Language != "" && !alerts.KnownLanguage(cu.Language) {
			return cfgErr(key+".language", "want one of %s, got %q", strings.Join(alerts.Languages, ", "), cu.Language)
		}
	}

	n := &c.Notify
	switch n.Channel {
	case "log", "whatsapp", "clawdbot", "webhook":
	default:
		return cfgErr("notify.channel", "unknown channel %q (log, whatsapp, clawdbot or webhook)", n.Channel)
	}
	durations := map[string]string{"notify.whatsapp.timeout": n.WhatsApp.Timeout, "notify.clawdbot.timeout": n.Clawdbot.Timeout,
		"notify.webhook.timeout": n.Webhook.Timeout, "notify.retry.base": n.Retry.Base, "notify.retry.max": n.Retry.Max}
	for k, v := range durations {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return cfgErr(k, "want a positive duration such as 30s, got %q", v)
		}
	}
	if n.Retry.Attempts < 1 || n.Retry.Attempts > 100 {
		return cfgErr("notify.retry.attempts", "want 1 to 100, got %d", n.Retry.Attempts)
	}
	phones := n.Channel == "whatsapp" || n.Channel == "clawdbot"
	if phones && hasOperator && al.OperatorPhone == "" {
		return cfgErr("alerts.operator_phone", "required: a threshold goes to the operator and notify.channel is %s", n.Channel)
	}
	if phones && hasCustomer {
		for i, cu := range c.Customers {
			if cu.Phone == "" && !c.Tiers[cu.Tier].Unlimited() {
				return cfgErr(fmt.Sprintf("customers[%d].phone", i), "required: customer %q has a limited tier and notify.channel is %s", cu.ID, n.Channel)
			}
		}
	}
	switch n.Channel {
	case "whatsapp":
		w := &n.WhatsApp
		if u, err := url.Parse(w.APIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfgErr("notify.whatsapp.api_base", "want an http(s) URL, got %q", w.APIBase)
		}
		if w.PhoneNumberID == "" {
			return cfgErr("notify.whatsapp.phone_number_id", "required (the ID of the business number, not the number)")
		}
		if w.TokenEnv == "" && w.TokenFile == "" {
			return cfgErr("notify.whatsapp.token_env", "the token must come from token_env or token_file")
		}
		// Whether the token is actually there is checked by the commands
		// that send (run, check) and by config check, so `usage` works from
		// a shell that does not carry the secret.
		w.TokenFile = expandHome(w.TokenFile)
		switch w.TemplateMode {
		case "", "fallback", "always":
		default:
			return cfgErr("notify.whatsapp.template_mode", "want fallback or always, got %q", w.TemplateMode)
		}
		if w.TemplateMode == "always" && w.Template == "" {
			return cfgErr("notify.whatsapp.template", "required when template_mode is always")
		}
		for _, p := range w.TemplateParams {
			if !slices.Contains(alerts.VarNames, p) {
				return cfgErr("notify.whatsapp.template_params", "unknown variable %q (one of %s)", p, strings.Join(alerts.VarNames, ", "))
			}
		}
	case "clawdbot":
		if strings.TrimSpace(n.Clawdbot.Command) == "" {
			return cfgErr("notify.clawdbot.command", "must not be empty")
		}
	case "webhook":
		if u, err := url.Parse(n.Webhook.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfgErr("notify.webhook.url", "want an http(s) URL, got %q", n.Webhook.URL)
		}
	}
	return nil
}

// tokenError says why the WhatsApp token cannot be read, naming the key
// (nil when the channel is not whatsapp or the token is there).
func (c *Config) tokenError() error {
	w := c.Notify.WhatsApp
	if c.Notify.Channel != "whatsapp" {
		return nil
	}
	if _, err := alerts.ReadToken(w); err != nil {
		key := "notify.whatsapp.token_env"
		if w.TokenFile != "" {
			key = "notify.whatsapp.token_file"
		}
		return cfgErr(key, "%v", err)
	}
	return nil
}

// validateEnforce checks the enforce and redis keys and every tier's and
// customer's enforce override (issue 12).
func (c *Config) validateEnforce() error {
	if err := c.Enforce.Validate(); err != nil {
		var ke *enforce.KeyError
		if errors.As(err, &ke) {
			return cfgErr("enforce."+ke.Key, "%s", ke.Reason)
		}
		return cfgErr("enforce", "%v", err)
	}
	for i, k := range c.Enforce.APIKeys {
		if !c.hasCustomer(k.Customer) {
			return cfgErr(fmt.Sprintf("enforce.api_keys[%d].customer", i), "%q is not a configured customer id", k.Customer)
		}
	}
	policy := func(key string, p *report.Enforce) error {
		if p == nil {
			return nil
		}
		if err := enforce.CheckPolicy(*p); err != nil {
			var ke *enforce.KeyError
			if errors.As(err, &ke) {
				return cfgErr(key+".enforce."+ke.Key, "%s", ke.Reason)
			}
			return cfgErr(key+".enforce", "%v", err)
		}
		return nil
	}
	for name, t := range c.Tiers {
		if err := policy("tiers."+name, t.Enforce); err != nil {
			return err
		}
	}
	for i := range c.Customers {
		if err := policy(fmt.Sprintf("customers[%d]", i), c.Customers[i].Enforce); err != nil {
			return err
		}
	}
	if c.Redis.Resync < time.Second {
		return cfgErr("redis.resync_interval", "must be at least 1s")
	}
	if c.Redis.DB < 0 {
		return cfgErr("redis.db", "must not be negative")
	}
	return nil
}
