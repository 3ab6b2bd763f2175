// Package buildinfo names the running build of featurestore: the module
// version and the version-control revision the Go toolchain recorded in the
// binary, for the files and messages that say which build produced them.
package buildinfo

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Info is what the binary records about its build.
type Info struct {
	// Version is the main module's version: a release tag ("v1.2.0"), a
	// pseudo-version, or "(devel)" for a build from a working tree. Never
	// empty: "unknown" when the binary carries no build information.
	Version string
	// Revision is the version-control revision the binary was built from,
	// with "+dirty" when the working tree had changes; empty when the
	// build recorded none (go build -buildvcs=false, go run, go test).
	Revision string
}

// Read returns the build information of the running binary.
var Read = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return fromBuildInfo(bi)
})

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version}
	if info.Version == "" {
		info.Version = "unknown"
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Revision != "" && modified {
		info.Revision += "+dirty"
	}
	return info
}

// String reads "v1.2.0 (build 3f2a9c1d0e4b)": the version, then the
// revision's first 12 characters when there is one (the form of a Parquet
// file's created_by after "<application> version ").
func (i Info) String() string {
	if i.Revision == "" {
		return i.Version
	}
	rev, dirty := strings.CutSuffix(i.Revision, "+dirty")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return i.Version + " (build " + rev + ")"
}
