package pixel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// event is the part of a Shopify web pixel event (what analytics.subscribe
// hands its callback) that becomes interactions. Events carry much more;
// the rest is ignored.
type event struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
	ClientID  string `json:"clientId"`
	// CustomerID is not part of Shopify's event: the snippet adds
	// init.data.customer.id, because only checkout events name the customer.
	CustomerID shopifyID    `json:"customerId"`
	Context    eventContext `json:"context"`
	Data       eventData    `json:"data"`
}

type eventContext struct {
	Document struct {
		Location location `json:"location"`
		Referrer string   `json:"referrer"`
	} `json:"document"`
	Navigator struct {
		UserAgent string `json:"userAgent"`
	} `json:"navigator"`
	Window struct {
		InnerWidth float64 `json:"innerWidth"`
		Screen     struct {
			Width float64 `json:"width"`
		} `json:"screen"`
	} `json:"window"`
}

// location is a snapshot of window.location.
type location struct {
	Href     string `json:"href"`
	Host     string `json:"host"`
	Pathname string `json:"pathname"`
	Search   string `json:"search"`
}

type eventData struct {
	// ProductVariant is product_viewed's.
	ProductVariant *variant `json:"productVariant"`
	// CartLine is product_added_to_cart's and product_removed_from_cart's.
	CartLine *struct {
		Merchandise *variant    `json:"merchandise"`
		Quantity    looseNumber `json:"quantity"`
	} `json:"cartLine"`
	// Checkout is checkout_completed's.
	Checkout *checkout `json:"checkout"`
	// SearchResult is search_submitted's.
	SearchResult *struct {
		Query looseString `json:"query"`
	} `json:"searchResult"`
}

// checkout is a completed checkout.
type checkout struct {
	CurrencyCode looseString    `json:"currencyCode"`
	LineItems    []checkoutLine `json:"lineItems"`
	Order        *struct {
		ID       looseString `json:"id"`
		Customer *struct {
			ID shopifyID `json:"id"`
		} `json:"customer"`
	} `json:"order"`
}

// checkoutLine is a line item of a completed checkout.
type checkoutLine struct {
	Variant  *variant    `json:"variant"`
	Quantity looseNumber `json:"quantity"`
}

// variant is a web pixel ProductVariant. Only its product id decides
// anything; its own id and price are kept as metadata, read leniently, so
// that no event is refused for a field no feature reads.
type variant struct {
	ID      looseString `json:"id"`
	Product *product    `json:"product"`
	Price   *struct {
		Amount       looseNumber `json:"amount"`
		CurrencyCode looseString `json:"currencyCode"`
	} `json:"price"`
}

// product is a web pixel Product.
type product struct {
	ID shopifyID `json:"id"`
}

// productID returns the variant's product id, or "" when it has none.
func (v *variant) productID() shopifyID {
	if v == nil || v.Product == nil {
		return ""
	}
	return v.Product.ID
}

// shopifyID is an id that Shopify may send as a string or as a number;
// null and missing are "".
type shopifyID string

func (id *shopifyID) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*id = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = shopifyID(s)
	default:
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			return errors.New("an id must be a string or a number")
		}
		*id = shopifyID(b)
	}
	return nil
}

// looseString is a string, or a number written as its digits; any other
// JSON value is "", never an error.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	switch v := v.(type) {
	case string:
		*s = looseString(v)
	case float64:
		*s = looseString(bytes.TrimSpace(b))
	}
	return nil
}

// looseNumber is a number, or a string that holds one; any other JSON
// value (or a number out of range) is absent, never an error.
type looseNumber struct {
	V     float64
	Valid bool
}

func (n *looseNumber) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	switch v := v.(type) {
	case float64:
		*n = looseNumber{V: v, Valid: true}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			*n = looseNumber{V: f, Valid: true}
		}
	}
	return nil
}

// errEmptyBody, errNotEvents and errBadJSON say why a body is not events.
var (
	errEmptyBody = errors.New("the body is empty: send one event as a JSON object, or an array of events")
	errNotEvents = errors.New("the body must be one event as a JSON object, or a JSON array of events")
	errBadJSON   = errors.New("malformed JSON")
)

// textError is a body whose text is not UTF-8, as JSON must be. Go's JSON
// decoder would store U+FFFD in its place; the sender is told instead.
type textError struct {
	// event is the index of the event in the body (0 for a single event),
	// field the path of the string within it, as
	// "data.checkout.lineItems[2].title".
	event  int
	field  string
	reason string
}

func (e *textError) Error() string {
	return fmt.Sprintf("event %d: %s %s", e.event, e.field, e.reason)
}

// decodeEvents parses a body of one event or an array of them.
func decodeEvents(body []byte) ([]event, error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return nil, errEmptyBody
	}
	if !utf8.Valid(body) {
		return nil, invalidText(body)
	}
	var err error
	var events []event
	switch body[0] {
	case '[':
		err = json.Unmarshal(body, &events)
	case '{':
		events = make([]event, 1)
		err = json.Unmarshal(body, &events[0])
	default:
		return nil, errNotEvents
	}
	if err != nil {
		return nil, describeJSONError(err)
	}
	return events, nil
}

// invalidText returns the *textError of a body that is not UTF-8: where the
// first byte that is not lies. Outside a string, that byte breaks the JSON.
func invalidText(body []byte) error {
	at := 0
	for at < len(body) {
		r, n := utf8.DecodeRune(body[at:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		at += n
	}
	// level is an array or object the decoder is in.
	type level struct {
		array bool
		index int // of the array's current element
		key   string
		// value is whether an object's next string is a value, not a key.
		value bool
	}
	var stack []*level
	// path names the current element; withLast false leaves out the
	// innermost level (the object whose key is at fault).
	path := func(withLast bool) (int, string) {
		levels := stack
		if !withLast {
			levels = levels[:len(levels)-1]
		}
		event := 0
		if len(levels) > 0 && stack[0].array {
			event, levels = stack[0].index, levels[1:]
		}
		var b strings.Builder
		for _, l := range levels {
			if l.array {
				fmt.Fprintf(&b, "[%d]", l.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l.key)
		}
		return event, b.String()
	}
	done := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.array {
			top.index++
		} else {
			top.value = false
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break
		}
		isKey := len(stack) > 0 && !stack[len(stack)-1].array && !stack[len(stack)-1].value
		if s, ok := tok.(string); ok {
			if int64(at) >= start && int64(at) < dec.InputOffset() {
				e := &textError{reason: "is not valid UTF-8"}
				if isKey {
					e.reason = "has a key that is not valid UTF-8"
				}
				e.event, e.field = path(!isKey)
				if e.field == "" {
					e.field = "event"
				}
				return e
			}
			if isKey {
				stack[len(stack)-1].key, stack[len(stack)-1].value = s, true
				continue
			}
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			stack = append(stack, &level{array: tok == json.Delim('[')})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
	return fmt.Errorf("%w at byte %d: JSON text must be UTF-8", errBadJSON, at)
}

// describeJSONError rephrases a decoding error for the sender: where the
// JSON breaks, or which field has the wrong type.
func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%w at byte %d: %s", errBadJSON, syntax.Offset, syntax.Error())
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%w: field %s must be a JSON %s, not a %s", errBadJSON, typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("%w: %s where an event (an object) was expected", errBadJSON, typeErr.Value)
	}
	return fmt.Errorf("%w: %s", errBadJSON, err.Error())
}

// jsonKind names a Go kind in JSON's terms.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "float64", "int", "int64":
		return "number"
	case "struct", "ptr", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return kind
}
