package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is set at build time with -ldflags "-X main.Version=..." (make
// does); left at "dev", the module version Go recorded is shown instead.
var Version = "dev"

// versionInfo is what `quotawatch version --format json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Dirty    bool   `json:"dirty"`
	Go       string `json:"go"`
	// Source says where Version came from: "ldflags" (make) or
	// "buildinfo" (go build, go install: the module version Go stamped).
	Source string `json:"source"`
}

// buildVersion reads the version from -ldflags, else from the build info
// (go install …@v1.2.3 stamps the module version; go build in a checkout
// stamps the VCS revision and whether the tree was modified).
func buildVersion() versionInfo {
	return versionFrom(Version, debug.ReadBuildInfo)
}

// versionFrom is buildVersion with its inputs given.
func versionFrom(ldflags string, read func() (*debug.BuildInfo, bool)) versionInfo {
	v := versionInfo{Version: ldflags, Source: "ldflags", Go: runtime.Version()}
	bi, ok := read()
	if ok {
		v.Go = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Dirty = s.Value == "true"
			}
		}
	}
	if ldflags == "" || ldflags == "dev" {
		v.Source = "buildinfo"
		v.Version = "(devel)"
		if ok && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
	}
	return v
}

// String is the one-line form: the version, then what the build info adds.
func (v versionInfo) String() string {
	var extra []string
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		extra = append(extra, "revision "+rev)
	}
	if v.Time != "" {
		extra = append(extra, v.Time)
	}
	if v.Dirty {
		extra = append(extra, "dirty")
	}
	extra = append(extra, v.Go)
	return v.Version + " (" + strings.Join(extra, ", ") + ")"
}
