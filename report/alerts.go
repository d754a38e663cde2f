package report

import (
	"context"
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// AlertRow is one outbox row as `alerts --format json` and the dashboard
// show it.
type AlertRow struct {
	ID            int64   `json:"id"`
	Kind          string  `json:"kind"` // warning | pre-warning | digest
	Customer      string  `json:"customer"`
	Period        string  `json:"period"`
	Threshold     float64 `json:"threshold"`
	Limit         string  `json:"limit_in_force"`
	To            string  `json:"to"`
	Recipient     string  `json:"recipient"`
	Channel       string  `json:"channel"`
	Language      string  `json:"language"`
	Percent       float64 `json:"percent"`
	Used          float64 `json:"used"`
	LimitValue    float64 `json:"limit"`
	Unit          string  `json:"unit"`
	Flag          bool    `json:"flag"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	LastError     string  `json:"last_error"`
	ProviderID    string  `json:"provider_message_id"`
	CreatedAt     string  `json:"created_at"`
	SentAt        *string `json:"sent_at"`
	NextAttemptAt *string `json:"next_attempt_at"`
	Message       string  `json:"message"`
}

// msTime is a stored Unix-ms time in loc, RFC 3339; nil for none.
func msTime(ms int64, loc *time.Location) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).In(loc).Format(time.RFC3339)
	return &s
}

// ToAlertRow turns a stored alert into its shown form, times in loc.
func ToAlertRow(a store.Alert, loc *time.Location) AlertRow {
	r := AlertRow{ID: a.ID, Customer: a.Customer, Period: a.Period, Threshold: a.Threshold, Limit: a.LimitKey, To: a.To,
		Recipient: a.Recipient, Channel: a.Channel, Language: a.Language, Percent: RoundFloat2(a.Percent), Used: a.Used,
		LimitValue: a.Limit, Unit: a.Unit, Flag: a.Flag, Status: a.Status, Attempts: a.Attempts, LastError: a.LastError,
		ProviderID: a.ProviderID, SentAt: msTime(a.SentMs, loc), Message: a.Message}
	switch {
	case a.Unit == store.DigestUnit:
		r.Kind = "digest"
	case a.Threshold < 0:
		r.Kind = "pre-warning"
	default:
		r.Kind = "warning"
	}
	if c := msTime(a.CreatedMs, loc); c != nil {
		r.CreatedAt = *c
	}
	if a.Status == store.AlertPending {
		r.NextAttemptAt = msTime(a.NextAttemptMs, loc)
	}
	return r
}

// AlertRows lists the outbox of a period ("" = every period) and customer
// ("" = all), oldest first, times in loc.
func AlertRows(ctx context.Context, st *store.Store, period, customer string, loc *time.Location) ([]AlertRow, error) {
	list, err := st.Alerts(ctx, period, customer)
	if err != nil {
		return nil, err
	}
	rows := make([]AlertRow, 0, len(list))
	for _, x := range list {
		rows = append(rows, ToAlertRow(x, loc))
	}
	return rows, nil
}

// AlertCSVHeader is the header of `alerts --format csv`; AlertRow.CSV gives
// the cells in this order.
var AlertCSVHeader = []string{"id", "kind", "customer", "period", "threshold", "limit_in_force", "to", "recipient", "channel", "language",
	"percent", "used", "limit", "unit", "flag", "status", "attempts", "last_error", "provider_message_id", "created_at", "sent_at",
	"next_attempt_at", "message"}

// CSV is the row's cells in AlertCSVHeader's order.
func (r AlertRow) CSV() []string {
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{strconv.FormatInt(r.ID, 10), r.Kind, r.Customer, r.Period, f(r.Threshold), r.Limit, r.To, r.Recipient, r.Channel,
		r.Language, f(r.Percent), f(r.Used), f(r.LimitValue), r.Unit, strconv.FormatBool(r.Flag), r.Status,
		strconv.Itoa(r.Attempts), r.LastError, r.ProviderID, r.CreatedAt, opt(r.SentAt), opt(r.NextAttemptAt), r.Message}
}
