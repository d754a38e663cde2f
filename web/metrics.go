package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/quotawatch/quotawatch/report"
)

// The per-customer families' help (docs/metrics.md lists the families).
const (
	helpRequests  = "Successful AI provider calls of the customer in the period."
	helpFailed    = "Failed AI provider calls of the customer in the period."
	helpTokens    = "Tokens of the customer in the period, by class (input, output, cache_read, cache_write)."
	helpCost      = "Cost in USD of the customer's priced calls in the period."
	helpUnpriced  = "Calls of the customer in the period with no known cost."
	helpPercent   = "Percent of the tier's limit used (the limit closest to being used up); absent for unlimited tiers."
	helpProjected = "Percent of the limit the customer is projected to use by the end of the period."
	helpFlagged   = "1 when the customer crossed a flagging threshold (120 %) in the period."
	helpCustomer  = "Configured customers (always 1), with their tier."
)

// Metric descriptors: docs/metrics.md lists them with an example alert rule.
var (
	descLines = prometheus.NewDesc("quotawatch_ingest_lines_total",
		"Complete lines (and database rows) read since this process started.", nil, nil)
	descEvents = prometheus.NewDesc("quotawatch_ingest_events_total",
		"Usage events parsed since this process started (new and duplicate).", nil, nil)
	descNew = prometheus.NewDesc("quotawatch_ingest_new_events_total",
		"Usage events stored for the first time since this process started.", nil, nil)
	descDups = prometheus.NewDesc("quotawatch_ingest_duplicate_events_total",
		"Usage events already stored (a copy, a re-read) since this process started.", nil, nil)
	descBad = prometheus.NewDesc("quotawatch_ingest_bad_lines_total",
		"Bad lines (malformed, out of bounds, refused by the store) since this process started.", nil, nil)
	descFiles = prometheus.NewDesc("quotawatch_ingest_files",
		"Files each source followed in this process.", []string{"source"}, nil)
	descDatabases = prometheus.NewDesc("quotawatch_ingest_databases",
		"Agent databases (OpenClaw) each source followed in this process.", []string{"source"}, nil)
	descReady = prometheus.NewDesc("quotawatch_ready",
		"1 when /readyz answers ready: caught up, last batch committed, writer not wedged.", nil, nil)
	descLag = prometheus.NewDesc("quotawatch_ingest_lag_seconds",
		"Now minus the newest stored event's time.", nil, nil)
	descNewest = prometheus.NewDesc("quotawatch_ingest_newest_event_timestamp_seconds",
		"Time of the newest stored event, Unix seconds.", nil, nil)
	descStoredBad = prometheus.NewDesc("quotawatch_stored_bad_lines",
		"Bad lines counted in the checkpoints of every file ever read.", nil, nil)
	descTracked = prometheus.NewDesc("quotawatch_tracked_items",
		"Files and agent databases the database holds a checkpoint or cursor for.", []string{"kind"}, nil)
	descAlerts = prometheus.NewDesc("quotawatch_alerts",
		"Outbox rows by delivery status (pending, sent, failed, skipped).", []string{"status"}, nil)
	descNotifierErrors = prometheus.NewDesc("quotawatch_notifier_errors_total",
		"Delivery attempts that failed (a paused delivery takes its attempt back and is not counted).", nil, nil)
	descDBSize = prometheus.NewDesc("quotawatch_database_size_bytes",
		"Size of the database file and its -wal.", nil, nil)
	descBuild = prometheus.NewDesc("quotawatch_build_info",
		"The running version (always 1).", []string{"version"}, nil)
)

// liveDescs are the few series read on every scrape: ingest counters, lag,
// readiness, the outbox and the file sizes move without a commit, or
// with every second.
var liveDescs = []*prometheus.Desc{descLines, descEvents, descNew, descDups, descBad, descFiles,
	descDatabases, descReady, descLag, descNewest, descStoredBad, descTracked, descAlerts, descNotifierErrors,
	descDBSize, descBuild}

// tokenClasses are quotawatch_tokens_total's classes, in the order of
// their names (the order Gather sorts them in).
var tokenClasses = []struct {
	name string
	of   func(*report.Row) int64
}{
	{"cache_read", func(r *report.Row) int64 { return r.CacheReadTokens }},
	{"cache_write", func(r *report.Row) int64 { return r.CacheWriteTokens }},
	{"input", func(r *report.Row) int64 { return r.InputTokens }},
	{"output", func(r *report.Row) int64 { return r.OutputTokens }},
}

// customerFamilies returns the per-customer families of the running
// period, built once per data version and minute: a scrape between two
// commits encodes them from the kept families instead of reading the
// store.
func (s *server) customerFamilies(ctx context.Context) ([]*dto.MetricFamily, error) {
	gen, now, err := s.generation(ctx)
	if err != nil {
		return nil, err
	}
	period := report.PeriodOf(now, s.o.Book.Location)
	return s.familyCache.get(gen, period, func() ([]*dto.MetricFamily, error) {
		rows, err := s.rows(ctx, gen, period, now)
		if err != nil {
			return nil, err
		}
		return customerFamiliesOf(s.o.Book, rows)
	})
}

// customerFamiliesOf builds the families customerCollector emits exactly
// as a registry's Gather returns them (families by name, series by label
// values, empty families left out), without the registry: after every
// commit Gather's ~12,000 const metrics, hashes and checks cost more than
// the rows they are made of. The rows are each one customer's, so no two
// series can collide; a label value that is not UTF-8, which Gather
// refuses, is refused here too.
func customerFamiliesOf(book *report.Book, rows []report.Row) ([]*dto.MetricFamily, error) {
	byID := make([]*report.Row, len(rows))
	for i := range rows {
		byID[i] = &rows[i]
		if !utf8.ValidString(rows[i].Customer) || !utf8.ValidString(rows[i].Period) {
			return nil, fmt.Errorf("metrics: customer %q of %q: label values must be UTF-8", rows[i].Customer, rows[i].Period)
		}
	}
	slices.SortFunc(byID, func(a, b *report.Row) int {
		return cmp.Or(strings.Compare(a.Customer, b.Customer), strings.Compare(a.Period, b.Period))
	})
	info := slices.Clone(book.Customers)
	slices.SortFunc(info, func(a, b report.Customer) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Tier, b.Tier))
	})
	for _, cu := range info {
		if !utf8.ValidString(cu.ID) || !utf8.ValidString(cu.Tier) {
			return nil, fmt.Errorf("metrics: customer %q: label values must be UTF-8", cu.ID)
		}
	}

	// One label pair per distinct name and value, shared by every series
	// that has it (the families are only read).
	pair := func(name *string, value string) *dto.LabelPair { return &dto.LabelPair{Name: name, Value: &value} }
	customer, period, class, tier := new("customer"), new("period"), new("class"), new("tier")
	labels := make([][]*dto.LabelPair, len(byID))
	for i, r := range byID {
		labels[i] = []*dto.LabelPair{pair(customer, r.Customer), pair(period, r.Period)}
	}
	counter := func(v float64) *dto.Metric { return &dto.Metric{Counter: &dto.Counter{Value: &v}} }
	gauge := func(v float64) *dto.Metric { return &dto.Metric{Gauge: &dto.Gauge{Value: &v}} }
	family := func(name, help string, t dto.MetricType, of func(i int, r *report.Row) *dto.Metric) *dto.MetricFamily {
		f := &dto.MetricFamily{Name: &name, Help: &help, Type: &t, Metric: make([]*dto.Metric, 0, len(byID))}
		for i, r := range byID {
			if m := of(i, r); m != nil {
				m.Label = labels[i]
				f.Metric = append(f.Metric, m)
			}
		}
		return f
	}
	C, G := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	infoFam := &dto.MetricFamily{Name: new("quotawatch_customer_info"), Help: new(helpCustomer), Type: &G, Metric: make([]*dto.Metric, len(info))}
	for i, cu := range info {
		m := gauge(1)
		m.Label = []*dto.LabelPair{pair(customer, cu.ID), pair(tier, cu.Tier)}
		infoFam.Metric[i] = m
	}
	tokens := &dto.MetricFamily{Name: new("quotawatch_tokens_total"), Help: new(helpTokens), Type: &C, Metric: make([]*dto.Metric, 0, 4*len(byID))}
	for _, cl := range tokenClasses {
		p := pair(class, cl.name)
		for i, r := range byID {
			m := counter(float64(cl.of(r)))
			m.Label = []*dto.LabelPair{p, labels[i][0], labels[i][1]}
			tokens.Metric = append(tokens.Metric, m)
		}
	}
	out := []*dto.MetricFamily{ // by name
		family("quotawatch_cost_usd_total", helpCost, C, func(_ int, r *report.Row) *dto.Metric { return counter(r.CostUSD.Float()) }),
		infoFam,
		family("quotawatch_failed_requests_total", helpFailed, C, func(_ int, r *report.Row) *dto.Metric { return counter(float64(r.FailedRequests)) }),
		family("quotawatch_flagged", helpFlagged, G, func(_ int, r *report.Row) *dto.Metric { return gauge(b2f(r.Flagged)) }),
		family("quotawatch_limit_projected_percent", helpProjected, G, func(_ int, r *report.Row) *dto.Metric {
			if r.ProjectedPercent == nil {
				return nil
			}
			return gauge(*r.ProjectedPercent)
		}),
		family("quotawatch_limit_used_percent", helpPercent, G, func(_ int, r *report.Row) *dto.Metric {
			if r.Percent == nil {
				return nil
			}
			return gauge(*r.Percent)
		}),
		family("quotawatch_requests_total", helpRequests, C, func(_ int, r *report.Row) *dto.Metric { return counter(float64(r.Requests)) }),
		tokens,
		family("quotawatch_unpriced_requests_total", helpUnpriced, C, func(_ int, r *report.Row) *dto.Metric { return counter(float64(r.UnpricedRequests)) }),
	}
	return slices.DeleteFunc(out, func(f *dto.MetricFamily) bool { return len(f.Metric) == 0 }), nil
}

// liveCollector reads, on every scrape, what moves without a commit.
type liveCollector struct{ s *server }

func (c liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range liveDescs {
		ch <- d
	}
}

func (c liveCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	now := s.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descBuild, 1, s.o.Version)
	ready, _ := s.ready(ctx)
	gauge(descReady, b2f(ready))
	if s.o.Live != nil {
		st := s.o.Live().Stats
		counter(descLines, float64(st.Lines))
		counter(descEvents, float64(st.Events))
		counter(descNew, float64(st.Inserted))
		counter(descDups, float64(st.Duplicates))
		counter(descBad, float64(st.Bad))
		for _, src := range st.Sources {
			gauge(descFiles, float64(src.Files), src.Source)
			gauge(descDatabases, float64(src.Databases), src.Source)
		}
	}
	rs, err := report.ReadStatus(ctx, s.o.Store, s.o.Sources, now, s.o.Book.Location)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descAlerts, err)
		return
	}
	if rs.LagSeconds != nil {
		gauge(descLag, *rs.LagSeconds)
		gauge(descNewest, float64(rs.NewestMs())/1000)
	}
	gauge(descStoredBad, float64(rs.BadLines))
	gauge(descTracked, float64(rs.Files), "file")
	gauge(descTracked, float64(rs.Databases), "database")
	a := rs.Alerts
	for _, x := range []struct {
		status string
		n      int64
	}{{"pending", a.Pending}, {"sent", a.Sent}, {"failed", a.Failed}, {"skipped", a.Skipped}} {
		gauge(descAlerts, float64(x.n), x.status)
	}
	counter(descNotifierErrors, float64(a.FailedAttempts))
	gauge(descDBSize, float64(rs.DatabaseBytes))
}

// gatherer is /metrics' source: the live registry (this process's go_*,
// process_* and live series) gathered on every scrape, and the kept
// per-customer families.
type gatherer struct {
	s    *server
	live *prometheus.Registry
}

// Gather returns both sets merged by name (each is sorted; the text format
// wants a family's series together, which they are). The kept families
// are only read, never changed, so sharing them between scrapes is safe.
func (g gatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	live, err := g.live.Gather()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	cust, cerr := g.s.customerFamilies(ctx)
	out := make([]*dto.MetricFamily, 0, len(live)+len(cust))
	i, j := 0, 0
	for i < len(live) || j < len(cust) {
		if j == len(cust) || i < len(live) && live[i].GetName() < cust[j].GetName() {
			out = append(out, live[i])
			i++
		} else {
			out = append(out, cust[j])
			j++
		}
	}
	return out, func() {}, errors.Join(err, cerr)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves a private registry (the standard go_* and
// process_* collectors and the live one, none of another library's
// globals) and the kept per-customer families.
func (s *server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), liveCollector{s})
	return promhttp.HandlerForTransactional(gatherer{s: s, live: reg},
		promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: promLog{s}})
}

// promLog hands promhttp's errors to the dashboard's logger.
type promLog struct{ s *server }

func (p promLog) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }
