package tracing

import (
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
)

// PropagatorsEnv is the standard variable that selects the propagators:
// the headers a call's trace context is read from.
const PropagatorsEnv = "OTEL_PROPAGATORS"

// propagatorNames are the values OTEL_PROPAGATORS may list, as the
// specification names them and autoprop implements them.
const propagatorNames = "tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace or none"

// DefaultPropagator reads a caller's trace context from the W3C
// traceparent and baggage headers: what OTEL_PROPAGATORS selects when it is
// unset.
func DefaultPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// PropagatorFromEnv returns the propagators OTEL_PROPAGATORS lists
// (comma-separated; names are read without regard to case or the spaces
// around them), or DefaultPropagator when it is unset or empty. Each
// propagator in turn reads its headers, so when a call carries its trace
// in several of the formats, the last one listed wins. "none" anywhere in
// the list reads no header: every call starts a trace of its own. A name it does not know is an error
// naming the variable, rather than a propagator quietly left out as
// autoprop.NewTextMapPropagator would do: a caller's traces would stop at
// this server with nothing saying why.
//
// Call it only when tracing is on (Enabled). An untraced server reads no
// trace context: its log lines carry a trace id only for spans it records
// (TraceID), and reading the headers of every call for an id that leads to
// none of its spans would cost the untraced hot path the work tracing off
// promises to spare it. Nor does it read the variable, so that a value set
// for the other services of a deployment, with a name this one does not
// know, cannot stop a server that would not use it.
func PropagatorFromEnv() (propagation.TextMapPropagator, error) {
	value := os.Getenv(PropagatorsEnv)
	var names, unknown []string
	for name := range strings.SplitSeq(value, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		// autoprop knows the names of its registry only through a lookup.
		if _, err := autoprop.TextMapPropagator(name); err != nil {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		names = append(names, name)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("tracing: %s=%q: unknown propagator %s; want a comma-separated list of %s",
			PropagatorsEnv, value, strings.Join(unknown, ", "), propagatorNames)
	}
	if len(names) == 0 {
		return DefaultPropagator(), nil
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %s=%q: %w", PropagatorsEnv, value, err)
	}
	return p, nil
}
