package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quotawatch/quotawatch/report"
)

// The per-customer descriptors, as the registry's way (below) needs them.
var (
	cp = []string{"customer", "period"}

	descRequests  = prometheus.NewDesc("quotawatch_requests_total", helpRequests, cp, nil)
	descFailed    = prometheus.NewDesc("quotawatch_failed_requests_total", helpFailed, cp, nil)
	descTokens    = prometheus.NewDesc("quotawatch_tokens_total", helpTokens, []string{"customer", "period", "class"}, nil)
	descCost      = prometheus.NewDesc("quotawatch_cost_usd_total", helpCost, cp, nil)
	descUnpriced  = prometheus.NewDesc("quotawatch_unpriced_requests_total", helpUnpriced, cp, nil)
	descPercent   = prometheus.NewDesc("quotawatch_limit_used_percent", helpPercent, cp, nil)
	descProjected = prometheus.NewDesc("quotawatch_limit_projected_percent", helpProjected, cp, nil)
	descFlagged   = prometheus.NewDesc("quotawatch_flagged", helpFlagged, cp, nil)
	descCustomer  = prometheus.NewDesc("quotawatch_customer_info", helpCustomer, []string{"customer", "tier"}, nil)
)

var customerDescs = []*prometheus.Desc{descRequests, descFailed, descTokens, descCost, descUnpriced, descPercent,
	descProjected, descFlagged, descCustomer}

// customerCollector emits the per-customer series of rows: the numbers
// `usage` prints, read from the store (no second set of counters to drift
// from them). It is the registry's way of building what
// customerFamiliesOf builds directly (the code /metrics ran before), and
// the test holds customerFamiliesOf to it.
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
