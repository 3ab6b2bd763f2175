package ingest_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/invalid"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// validRow returns a row that passes Validate, every column set.
func validRow(id string) ingest.Interaction {
	return ingest.Interaction{
		ID:           id,
		ShopID:       "shop-1",
		CustomerID:   ptr("gid://shopify/Customer/1"),
		ProductID:    ptr("gid://shopify/Product/2"),
		EventType:    "product_viewed",
		PageType:     ptr("search"),
		DeviceType:   ptr("mobile"),
		ReferrerType: ptr("social"),
		ViewDuration: ptr(12.5),
		CreatedAt:    testNow.Add(-time.Hour),
		ClientID:     ptr("4f2b8c9e-1a3d-4e5f-8a7b-6c5d4e3f2a1b"),
		Metadata:     []byte(`{"variant_id": "gid://shopify/ProductVariant/3", "quantity": 2, "price": 49.5}`),
	}
}

func TestValidateRows(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("é", n) } // 2 bytes, 1 character each
	for _, tc := range []struct {
		name   string
		change func(r *ingest.Interaction)
		field  string // "" means valid
		reason string
	}{
		{"every column set", func(*ingest.Interaction) {}, "", ""},
		{"only required columns", func(r *ingest.Interaction) {
			r.CustomerID, r.ProductID, r.PageType, r.DeviceType, r.ReferrerType, r.ViewDuration = nil, nil, nil, nil, nil, nil
			r.ClientID, r.Metadata = nil, nil
		}, "", ""},
		{"empty optional texts", func(r *ingest.Interaction) { r.CustomerID, r.PageType = ptr(""), ptr("") }, "", ""},
		{"ids at their column length in characters", func(r *ingest.Interaction) { r.ID, r.ProductID = long(255), ptr(long(255)) }, "", ""},
		{"category at its column length", func(r *ingest.Interaction) { r.DeviceType = ptr(long(64)) }, "", ""},
		{"zero duration", func(r *ingest.Interaction) { r.ViewDuration = ptr(0.0) }, "", ""},
		{"created_at at the future limit", func(r *ingest.Interaction) { r.CreatedAt = testNow.Add(ingest.MaxFuture) }, "", ""},
		{"created_at long ago", func(r *ingest.Interaction) { r.CreatedAt = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) }, "", ""},
		{"client id at its column length", func(r *ingest.Interaction) { r.ClientID = ptr(long(255)) }, "", ""},
		{"metadata with escapes jsonb takes", func(r *ingest.Interaction) {
			r.Metadata = []byte(` {"q": "a\\u0000b \u00e9\n\"", "n": [1, null, true], "é": {}}`)
		}, "", ""},
		{"metadata at its limit", func(r *ingest.Interaction) {
			r.Metadata = []byte(`{"q": "` + strings.Repeat("x", ingest.MaxMetadataBytes-9) + `"}`)
		}, "", ""},

		{"missing id", func(r *ingest.Interaction) { r.ID = "" }, "id", "is required"},
		{"blank id", func(r *ingest.Interaction) { r.ID = " \t\n" }, "id", "is required"},
		{"missing shop", func(r *ingest.Interaction) { r.ShopID = "" }, "shop_id", "is required"},
		{"missing event type", func(r *ingest.Interaction) { r.EventType = "" }, "event_type", "is required"},
		{"blank event type", func(r *ingest.Interaction) { r.EventType = "  " }, "event_type", "is required"},
		{"missing created_at", func(r *ingest.Interaction) { r.CreatedAt = time.Time{} }, "created_at", "is required"},
		{"id too long", func(r *ingest.Interaction) { r.ID = long(256) }, "id", "is 256 characters long; at most 255"},
		{"shop too long", func(r *ingest.Interaction) { r.ShopID = long(300) }, "shop_id", "at most 255"},
		{"customer too long", func(r *ingest.Interaction) { r.CustomerID = ptr(long(256)) }, "customer_id", "at most 255"},
		{"product too long", func(r *ingest.Interaction) { r.ProductID = ptr(long(256)) }, "product_id", "at most 255"},
		{"event type too long", func(r *ingest.Interaction) { r.EventType = long(65) }, "event_type", "at most 64"},
		{"page type too long", func(r *ingest.Interaction) { r.PageType = ptr(long(65)) }, "page_type", "at most 64"},
		{"device type too long", func(r *ingest.Interaction) { r.DeviceType = ptr(long(65)) }, "device_type", "at most 64"},
		{"referrer too long", func(r *ingest.Interaction) { r.ReferrerType = ptr(long(65)) }, "referrer_type", "at most 64"},
		{"NUL in a text", func(r *ingest.Interaction) { r.ProductID = ptr("a\x00b") }, "product_id", "NUL"},
		{"client id too long", func(r *ingest.Interaction) { r.ClientID = ptr(long(256)) }, "client_id", "at most 255"},
		{"NUL in a client id", func(r *ingest.Interaction) { r.ClientID = ptr("c\x00") }, "client_id", "NUL"},
		{"metadata too large", func(r *ingest.Interaction) {
			r.Metadata = []byte(`{"q": "` + strings.Repeat("x", ingest.MaxMetadataBytes-8) + `"}`)
		}, "metadata", "at most 16384"},
		{"metadata not JSON", func(r *ingest.Interaction) { r.Metadata = []byte(`{"q": }`) }, "metadata", "not valid JSON"},
		{"metadata not an object", func(r *ingest.Interaction) { r.Metadata = []byte(` ["q"]`) }, "metadata", "must be a JSON object"},
		{"metadata empty", func(r *ingest.Interaction) { r.Metadata = []byte{} }, "metadata", "not valid JSON"},
		{"metadata with a NUL escape", func(r *ingest.Interaction) { r.Metadata = []byte(`{"q": "a\\\u0000"}`) }, "metadata", `\u0000`},
		{"metadata with a surrogate escape", func(r *ingest.Interaction) { r.Metadata = []byte(`{"q": "\ud83d\ude00"}`) }, "metadata", `\ud83d`},
		{"metadata not UTF-8", func(r *ingest.Interaction) { r.Metadata = []byte("{\"q\": \"\xff\"}") }, "metadata", "UTF-8"},
		{"invalid UTF-8", func(r *ingest.Interaction) { r.ShopID = "shop\xff" }, "shop_id", "UTF-8"},
		{"NaN duration", func(r *ingest.Interaction) { r.ViewDuration = ptr(math.NaN()) }, "view_duration", "finite"},
		{"infinite duration", func(r *ingest.Interaction) { r.ViewDuration = ptr(math.Inf(1)) }, "view_duration", "finite"},
		{"negative duration", func(r *ingest.Interaction) { r.ViewDuration = ptr(-1.0) }, "view_duration", "negative"},
		{"created_at in the future", func(r *ingest.Interaction) { r.CreatedAt = testNow.Add(ingest.MaxFuture + time.Second) }, "created_at", "past the server's clock"},
		{"created_at before year 1", func(r *ingest.Interaction) { r.CreatedAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) }, "created_at", "before year 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRow("ev-1")
			tc.change(&r)
			err := ingest.Validate(ingest.Rows{validRow("ev-0"), r}, testNow)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			v := onlyViolation(t, err)
			if v.Row != 1 || v.Field != tc.field || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("violation = %+v, want row 1, field %s, reason containing %q", v, tc.field, tc.reason)
			}
		})
	}
}

func TestValidateBatchSize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, ingest.MaxBatch + 1} {
		rows := make(ingest.Rows, n)
		for i := range rows {
			rows[i] = validRow("ev")
		}
		v := onlyViolation(t, ingest.Validate(rows, testNow))
		if v.Row != -1 || !strings.Contains(v.Reason, "send 1 to 10000") {
			t.Errorf("%d rows: violation = %+v, want the batch's size", n, v)
		}
	}
	rows := make(ingest.Rows, ingest.MaxBatch)
	for i := range rows {
		rows[i] = validRow("ev")
	}
	if err := ingest.Validate(rows, testNow); err != nil {
		t.Errorf("%d rows: %v", ingest.MaxBatch, err)
	}
}

// TestValidateListsFirstViolations checks that a batch with many bad rows
// is answered with the first MaxViolations, in row order, and the total.
func TestValidateListsFirstViolations(t *testing.T) {
	t.Parallel()
	rows := make(ingest.Rows, 50)
	for i := range rows {
		rows[i] = validRow("ev")
		if i%2 == 1 {
			rows[i].ShopID, rows[i].EventType = "", "" // two violations per bad row
		}
	}
	var verr *ingest.ValidationError
	if !errors.As(ingest.Validate(rows, testNow), &verr) {
		t.Fatal("Validate accepted a batch with bad rows")
	}
	if verr.Total != 50 || len(verr.Violations) != ingest.MaxViolations {
		t.Fatalf("total %d, listed %d; want 50 and %d", verr.Total, len(verr.Violations), ingest.MaxViolations)
	}
	for i, v := range verr.Violations {
		wantRow, wantField := 1+2*(i/2), []string{"shop_id", "event_type"}[i%2]
		if v.Row != wantRow || v.Field != wantField {
			t.Errorf("violation %d = %+v, want row %d field %s", i, v, wantRow, wantField)
		}
	}
	if msg := verr.Error(); !strings.Contains(msg, "row 1 shop_id is required") || !strings.HasSuffix(msg, "and 40 more") {
		t.Errorf("message = %q", msg)
	}
}

// unreadable is a Source whose second row cannot be represented.
type unreadable struct{ ingest.Rows }

func (u unreadable) At(i int) (ingest.Interaction, error) {
	if i == 1 {
		return ingest.Interaction{}, invalid.Field("created_at", "is not a valid timestamp")
	}
	return u.Rows.At(i)
}

func TestValidateReportsUnreadableRow(t *testing.T) {
	t.Parallel()
	v := onlyViolation(t, ingest.Validate(unreadable{ingest.Rows{validRow("a"), validRow("b")}}, testNow))
	if v.Row != 1 || v.Field != "created_at" || v.Reason != "is not a valid timestamp" {
		t.Errorf("violation = %+v", v)
	}
}

// onlyViolation returns the one violation err lists, failing the test
// unless err is a *ValidationError with exactly one.
func onlyViolation(t *testing.T, err error) ingest.Violation {
	t.Helper()
	var verr *ingest.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	if verr.Total != 1 || len(verr.Violations) != 1 {
		t.Fatalf("violations = %+v (total %d), want exactly one", verr.Violations, verr.Total)
	}
	return verr.Violations[0]
}
