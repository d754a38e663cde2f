package report

// Enforcement modes (issue 12): off = Phase 1, nothing is ever blocked;
// hard = the gateway denies a request once usage reaches limit × grace.
const (
	EnforceOff  = "off"
	EnforceHard = "hard"
)

// Enforce is the hard-limit policy of a customer or a tier. An empty Mode
// or a zero GracePercent inherits from the tier, then the global setting.
type Enforce struct {
	Mode         string  `mapstructure:"mode" json:"mode,omitempty"`
	GracePercent float64 `mapstructure:"grace_percent" json:"grace_percent,omitempty"`
}

// Over lays o over e: o's set fields win.
func (e Enforce) Over(o *Enforce) Enforce {
	if o == nil {
		return e
	}
	if o.Mode != "" {
		e.Mode = o.Mode
	}
	if o.GracePercent != 0 {
		e.GracePercent = o.GracePercent
	}
	return e
}
