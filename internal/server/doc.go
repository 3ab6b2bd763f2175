// Package server is featurestore's gRPC edge: request validation, the
// handlers of FeatureStoreService, the one mapping from internal errors to
// gRPC status codes (errors.go, which also gives each error a stable
// google.rpc.ErrorInfo reason, the refusals of package auth included),
// health reporting, the limits of bulk streams (stream_limits.go), the
// decoding of requests, which answers bad bytes INVALID_ARGUMENT and runs
// after authentication (decode.go), and the interceptor chain.
// A Service serves what its Config configures: each backend is an
// interface declared here, and an RPC without one answers NOT_CONFIGURED.
package server
