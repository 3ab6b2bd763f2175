// Package server is featurestore's gRPC edge: request validation, the
// handlers of FeatureStoreService, the one mapping from internal errors to
// gRPC status codes, health reporting and the interceptor chain.
package server
