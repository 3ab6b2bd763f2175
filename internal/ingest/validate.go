package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// The column limits of user_interactions (migrations/00001_schema.sql).
// Postgres counts varchar lengths in characters, and so does Validate.
const (
	// MaxIDLength bounds id, shop_id, customer_id and product_id.
	MaxIDLength = invalid.MaxIDLength
	// MaxCategoryLength bounds event_type, page_type, device_type and
	// referrer_type.
	MaxCategoryLength = 64
	// MaxMetadataBytes bounds the JSON text of a row's metadata: room for a
	// checkout's lines of one product, not for a copy of the whole event.
	MaxMetadataBytes = 16 << 10
)

const (
	// MaxBatch is the most interactions one batch may carry.
	MaxBatch = 10_000
	// MaxFuture is how far past the server's clock created_at may lie:
	// room for clock skew between a client and the server, none for events
	// that have not happened yet.
	MaxFuture = 5 * time.Minute
	// MaxViolations bounds the violations a ValidationError lists, so that
	// the answer to a batch of thousands of bad rows stays readable.
	MaxViolations = 10
)

// minCreatedAt is the earliest created_at accepted: year 1, the start of
// the range a protobuf Timestamp can express.
var minCreatedAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// Interaction is one row of user_interactions. Optional columns are nil
// when NULL; CreatedAt is zero when missing.
type Interaction = store.Interaction

// Source is a batch of interactions read by index, so that each caller can
// hand over its own representation (a request's messages, a slice) without
// building a copy of the batch first. A non-nil error from At says the row
// cannot be represented at all (a timestamp out of range); Validate reports
// it as the row's violation, of the field an *invalid.Error names, and
// checks the row no further.
type Source = store.InteractionSource

// Rows is a Source over a slice.
type Rows = store.InteractionRows

// Violation is one field of one row that breaks a rule.
type Violation struct {
	// Row is the row's index in the batch, or -1 when the batch as a whole
	// is wrong (its size).
	Row int
	// Field is the column's name in user_interactions; empty when Row is -1.
	Field  string
	Reason string
}

// ValidationError rejects a whole batch. It lists the first MaxViolations
// violations in row order; each edge names them in its own terms (a request
// field path, an event of a pixel payload).
type ValidationError struct {
	Violations []Violation
	// Total counts every violation found, listed or not.
	Total int
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Violations)+1)
	for _, v := range e.Violations {
		if v.Row < 0 {
			parts = append(parts, "batch "+v.Reason)
			continue
		}
		parts = append(parts, fmt.Sprintf("row %d %s %s", v.Row, v.Field, v.Reason))
	}
	if more := e.Total - len(e.Violations); more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return "invalid interactions: " + strings.Join(parts, "; ")
}

// Validate checks every row of src against the rules of user_interactions,
// with now as the server's clock: id, shop_id, event_type and created_at
// are required; texts fit their columns; view_duration, when given, is a
// finite, non-negative number of seconds; created_at lies at most MaxFuture
// past now; metadata, when given, is a JSON object of at most
// MaxMetadataBytes that jsonb can hold. It returns nil or a *ValidationError. A batch Validate accepts
// can always be stored.
func Validate(src Source, now time.Time) error {
	n := src.Len()
	if n == 0 || n > MaxBatch {
		return &ValidationError{
			Violations: []Violation{{Row: -1, Reason: fmt.Sprintf("holds %d interactions; send 1 to %d at a time", n, MaxBatch)}},
			Total:      1,
		}
	}
	c := checker{latest: now.Add(MaxFuture)}
	for i := range n {
		c.row = i
		r, err := src.At(i)
		if err == nil {
			c.check(&r)
		} else if e, ok := invalid.As(err); ok {
			c.add(e.Field, e.Reason)
		} else {
			c.add("", err.Error())
		}
	}
	if c.err.Total == 0 {
		return nil
	}
	return &c.err
}

// checker collects the violations of one batch.
type checker struct {
	latest time.Time
	row    int
	err    ValidationError
}

func (c *checker) add(field, reason string) {
	c.err.Total++
	if len(c.err.Violations) < MaxViolations {
		c.err.Violations = append(c.err.Violations, Violation{Row: c.row, Field: field, Reason: reason})
	}
}

func (c *checker) check(r *Interaction) {
	c.required("id", r.ID, MaxIDLength)
	c.required("shop_id", r.ShopID, MaxIDLength)
	c.optional("customer_id", r.CustomerID, MaxIDLength)
	c.optional("product_id", r.ProductID, MaxIDLength)
	c.optional("client_id", r.ClientID, MaxIDLength)
	c.required("event_type", r.EventType, MaxCategoryLength)
	c.optional("page_type", r.PageType, MaxCategoryLength)
	c.optional("device_type", r.DeviceType, MaxCategoryLength)
	c.optional("referrer_type", r.ReferrerType, MaxCategoryLength)
	if d := r.ViewDuration; d != nil {
		switch {
		case math.IsNaN(*d) || math.IsInf(*d, 0):
			c.add("view_duration", "must be a finite number of seconds")
		case *d < 0:
			c.add("view_duration", fmt.Sprintf("is %g; a duration cannot be negative", *d))
		}
	}
	if r.Metadata != nil {
		if reason := checkMetadata(r.Metadata); reason != "" {
			c.add("metadata", reason)
		}
	}
	switch t := r.CreatedAt; {
	case t.IsZero():
		c.add("created_at", "is required")
	case t.Before(minCreatedAt):
		c.add("created_at", fmt.Sprintf("is %s, before year 1", t.UTC().Format(time.RFC3339)))
	case t.After(c.latest):
		c.add("created_at", fmt.Sprintf("is %s, more than %s past the server's clock (%s)",
			t.UTC().Format(time.RFC3339Nano), MaxFuture, c.latest.Add(-MaxFuture).UTC().Format(time.RFC3339)))
	}
}

func (c *checker) required(field, s string, maxLen int) {
	if strings.Trim(s, blanks) == "" {
		c.add(field, "is required")
		return
	}
	if reason := invalid.CheckText(s, maxLen); reason != "" {
		c.add(field, reason)
	}
}

func (c *checker) optional(field string, s *string, maxLen int) {
	if s == nil {
		return
	}
	if reason := invalid.CheckText(*s, maxLen); reason != "" {
		c.add(field, reason)
	}
}

// blanks are the characters the features kernel trims from categorical
// values (FEATURES.md 1.3); a required value made only of them is missing.
const blanks = " \t\n\v\f\r"

// checkMetadata returns why b cannot be stored as a row's metadata, or ""
// when it can: a JSON object of at most MaxMetadataBytes, valid UTF-8, with
// no escape that jsonb refuses (\u0000, which Postgres text cannot hold, and
// the UTF-16 surrogates, which a JSON encoder need not write: the characters
// go in as UTF-8).
func checkMetadata(b []byte) string {
	switch {
	case len(b) > MaxMetadataBytes:
		return fmt.Sprintf("is %d bytes of JSON; at most %d are allowed", len(b), MaxMetadataBytes)
	case !utf8.Valid(b):
		return "is not valid UTF-8"
	case !json.Valid(b):
		return "is not valid JSON"
	case bytes.TrimLeft(b, " \t\r\n")[0] != '{':
		return "must be a JSON object"
	}
	// Backslashes occur in valid JSON only inside strings, as escapes.
	for i := bytes.IndexByte(b, '\\'); i >= 0 && i+1 < len(b); {
		if b[i+1] == 'u' && i+5 < len(b) {
			if code, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16); err == nil && (code == 0 || code >= 0xd800 && code <= 0xdfff) {
				return fmt.Sprintf("holds the escape %s, which Postgres jsonb cannot store; send the character as UTF-8, and no NUL", b[i:i+6])
			}
		}
		next := bytes.IndexByte(b[i+2:], '\\')
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return ""
}
