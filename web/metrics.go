package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/quotawatch/quotawatch/report"
)

// Metric descriptors: docs/metrics.md lists them with an example alert rule.
var (
	cp = []string{"customer", "period"}

	descRequests = prometheus.NewDesc("quotawatch_requests_total",
		"Successful AI provider calls of the customer in the period.", cp, nil)
	descFailed = prometheus.NewDesc("quotawatch_failed_requests_total",
		"Failed AI provider calls of the customer in the period.", cp, nil)
	descTokens = prometheus.NewDesc("quotawatch_tokens_total",
		"Tokens of the customer in the period, by class (input, output, cache_read, cache_write).",
		[]string{"customer", "period", "class"}, nil)
	descCost = prometheus.NewDesc("quotawatch_cost_usd_total",
		"Cost in USD of the customer's priced calls in the period.", cp, nil)
	descUnpriced = prometheus.NewDesc("quotawatch_unpriced_requests_total",
		"Calls of the customer in the period with no known cost.", cp, nil)
	descPercent = prometheus.NewDesc("quotawatch_limit_used_percent",
		"Percent of the tier's limit used (the limit closest to being used up); absent for unlimited tiers.", cp, nil)
	descProjected = prometheus.NewDesc("quotawatch_limit_projected_percent",
		"Percent of the limit the customer is projected to use by the end of the period.", cp, nil)
	descFlagged = prometheus.NewDesc("quotawatch_flagged",
		"1 when the customer crossed a flagging threshold (120 %) in the period.", cp, nil)
	descCustomer = prometheus.NewDesc("quotawatch_customer_info",
		"Configured customers (always 1), with their tier.", []string{"customer", "tier"}, nil)

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

// customerDescs are the per-customer series: thousands at 1,000
// customers, so they are gathered once per data version and minute and
// kept (see customerFamilies).
var customerDescs = []*prometheus.Desc{descRequests, descFailed, descTokens, descCost, descUnpriced, descPercent,
	descProjected, descFlagged, descCustomer}

// liveDescs are the few series read on every scrape: ingest counters, lag,
// readiness, the outbox and the file sizes move without a commit, or
// with every second.
var liveDescs = []*prometheus.Desc{descLines, descEvents, descNew, descDups, descBad, descFiles,
	descDatabases, descReady, descLag, descNewest, descStoredBad, descTracked, descAlerts, descNotifierErrors,
	descDBSize, descBuild}

// customerCollector emits the per-customer series of rows: the numbers
// `usage` prints, read from the store (no second set of counters to drift
// from them).
type customerCollector struct {
	book *report.Book
	rows []report.Row
}

func (c customerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range customerDescs {
		ch <- d
	}
}

func (c customerCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, cu := range c.book.Customers {
		gauge(descCustomer, 1, cu.ID, cu.Tier)
	}
	for i := range c.rows {
		r := &c.rows[i]
		l := []string{r.Customer, r.Period}
		counter(descRequests, float64(r.Requests), l...)
		counter(descFailed, float64(r.FailedRequests), l...)
		counter(descTokens, float64(r.InputTokens), r.Customer, r.Period, "input")
		counter(descTokens, float64(r.OutputTokens), r.Customer, r.Period, "output")
		counter(descTokens, float64(r.CacheReadTokens), r.Customer, r.Period, "cache_read")
		counter(descTokens, float64(r.CacheWriteTokens), r.Customer, r.Period, "cache_write")
		counter(descCost, r.CostUSD.Float(), l...)
		counter(descUnpriced, float64(r.UnpricedRequests), l...)
		if r.Percent != nil {
			gauge(descPercent, *r.Percent, l...)
		}
		if r.ProjectedPercent != nil {
			gauge(descProjected, *r.ProjectedPercent, l...)
		}
		gauge(descFlagged, b2f(r.Flagged), l...)
	}
}

// customerFamilies gathers the per-customer families of the running
// period, once per data version and minute: a scrape between two commits
// encodes them from the kept families instead of reading the store,
// building ~12,000 metrics and checking them again.
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
		reg := prometheus.NewRegistry()
		if err := reg.Register(customerCollector{book: s.o.Book, rows: rows}); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			return nil, fmt.Errorf("metrics: gather the customers' series: %w", err)
		}
		return mfs, nil
	})
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
