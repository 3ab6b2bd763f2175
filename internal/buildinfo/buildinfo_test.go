package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	rev := "3f2a9c1d0e4b5a6978877665544332211aabbccd"
	for _, c := range []struct {
		name     string
		bi       debug.BuildInfo
		want     Info
		wantText string
	}{
		{"release", debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			Info{Version: "v1.2.0", Revision: rev}, "v1.2.0 (build 3f2a9c1d0e4b)"},
		{"dirty tree", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			Info{Version: "(devel)", Revision: rev + "+dirty"}, "(devel) (build 3f2a9c1d0e4b+dirty)"},
		{"no vcs", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Info{Version: "(devel)"}, "(devel)"},
		{"no version", debug.BuildInfo{}, Info{Version: "unknown"}, "unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fromBuildInfo(&c.bi)
			if got != c.want || got.String() != c.wantText {
				t.Errorf("got %+v %q, want %+v %q", got, got.String(), c.want, c.wantText)
			}
		})
	}
}

func TestReadNeverEmpty(t *testing.T) {
	if Read().Version == "" {
		t.Error("Read().Version is empty")
	}
}
