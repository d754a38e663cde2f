package report

import (
	"context"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// AlertRow is one outbox row as `alerts --format json` and /api/alerts
// print it.
type AlertRow struct {
	ID            int64   `json:"id"`
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

// TimeMs is a stored Unix-ms time as RFC 3339 in loc; nil for none (0).
func TimeMs(ms int64, loc *time.Location) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).In(loc).Format(time.RFC3339)
	return &s
}

// AlertRowOf is an outbox row as it is shown, times in loc.
func AlertRowOf(a store.Alert, loc *time.Location) AlertRow {
	r := AlertRow{ID: a.ID, Customer: a.Customer, Period: a.Period, Threshold: a.Threshold, Limit: a.LimitKey, To: a.To,
		Recipient: a.Recipient, Channel: a.Channel, Language: a.Language, Percent: RoundFloat2(a.Percent), Used: a.Used,
		LimitValue: a.Limit, Unit: a.Unit, Flag: a.Flag, Status: a.Status, Attempts: a.Attempts, LastError: a.LastError,
		ProviderID: a.ProviderID, SentAt: TimeMs(a.SentMs, loc), Message: a.Message}
	if c := TimeMs(a.CreatedMs, loc); c != nil {
		r.CreatedAt = *c
	}
	if a.Status == store.AlertPending {
		r.NextAttemptAt = TimeMs(a.NextAttemptMs, loc)
	}
	return r
}

// AlertRows lists the outbox rows of a period ("" = every period) and
// customer ("" = all), oldest first, as they are shown; [] when none.
func AlertRows(ctx context.Context, st *store.Store, period, customer string, loc *time.Location) ([]AlertRow, error) {
	list, err := st.Alerts(ctx, period, customer)
	if err != nil {
		return nil, err
	}
	rows := make([]AlertRow, 0, len(list))
	for _, a := range list {
		rows = append(rows, AlertRowOf(a, loc))
	}
	return rows, nil
}
