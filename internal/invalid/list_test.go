package invalid_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/featurestore/featurestore/internal/invalid"
)

func TestList(t *testing.T) {
	t.Parallel()
	first := &invalid.Error{Field: "interactions[0].id", Reason: "is required"}
	second := &invalid.Error{Field: "interactions[3].created_at", Reason: "is in the future"}
	err := fmt.Errorf("ingest: %w", &invalid.List{Errors: []*invalid.Error{first, second}, More: 4})

	l, ok := invalid.AsList(err)
	if !ok {
		t.Fatal("AsList did not find the list")
	}
	if want := "interactions[0].id: is required; interactions[3].created_at: is in the future; and 4 more"; l.Error() != want {
		t.Errorf("Error() = %q, want %q", l.Error(), want)
	}
	if e, ok := invalid.As(err); !ok || e != first {
		t.Errorf("As = %v, want the first listed error", e)
	}
	if !errors.Is(err, second) {
		t.Error("errors.Is does not see the second listed error")
	}
	if _, ok := invalid.AsList(invalid.Field("as_of", "is bad")); ok {
		t.Error("AsList found a list in a single field error")
	}
}
