package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes v as every machine-readable output does: indented two
// spaces, with <, > and & as they are (names are Arabic and English text,
// not HTML), one value and a newline. The CLI's --format json and the
// dashboard's /api/ endpoints both call it, so they cannot drift apart.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// WriteRowsJSON writes usage rows as `usage --format json` and /api/usage
// print them: a JSON array, [] when there is none.
func WriteRowsJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	return WriteJSON(w, rows)
}
