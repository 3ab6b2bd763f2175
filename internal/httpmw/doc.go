// Package httpmw gives an HTTP listener what the gRPC interceptor chain
// gives gRPC: Prometheus metrics per handler, method and status code, one
// structured log line per request, and panic recovery that answers 500,
// counts the panic and logs its stack instead of dropping the connection.
package httpmw
