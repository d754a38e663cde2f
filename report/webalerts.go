package report

import "time"

// TimeMs is a stored Unix-ms time as RFC 3339 in loc; nil for none (0).
func TimeMs(ms int64, loc *time.Location) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).In(loc).Format(time.RFC3339)
	return &s
}
