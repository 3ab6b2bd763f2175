package export

import (
	"testing"
	"time"
)

// Hooks for the external tests, which cannot reach the sinks otherwise.

// SetCheckpointInterval changes how often a line format's export records a
// checkpoint from now on.
func SetCheckpointInterval(f *File, d time.Duration) {
	if s, ok := f.sink.(*lineSink); ok {
		s.interval = d
	}
}

// Crash abandons f as a killed process would: whatever reached the
// operating system stays in the files (a line format's buffer is handed to
// it first, so the output holds rows past the last checkpoint), nothing is
// recorded, and the files are closed.
func Crash(f *File) {
	switch s := f.sink.(type) {
	case *lineSink:
		_ = s.out.Flush()
		_ = s.file.Close()
	case *parquetSink:
		_ = s.close()
	}
	f.closed = true
}

// MarkComplete records that f's stream has ended, as Finish does before it
// completes the output.
func MarkComplete(t testing.TB, f *File) {
	t.Helper()
	if err := f.markComplete(); err != nil {
		t.Fatal(err)
	}
}
