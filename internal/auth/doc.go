// Package auth decides who may call featurestore and what they may do.
//
// Callers present API keys: gRPC clients in the metadata
// "authorization: Bearer fsk_...", storefront pixels in the pixel URL. A key
// is fsk_<id>_<secret>: the id is public and finds the key's row, the secret
// is 256 random bits of which only the SHA-256 is stored (see key.go for
// why a plain hash is the right one). Each key carries the shops it may act
// on (or every shop) and its scopes:
//
//	read     GetFeatures, DescribeFeatures
//	export   StreamFeatures, also with compute = true
//	compute  ComputeFeatures
//	ingest   IngestInteractions
//	pixel    the web pixel endpoint (a public key; it carries no other scope)
//
// A Verifier checks keys against the store and remembers the answer for a
// few seconds (CacheTTL, at most 10 s), so the hot path costs a map lookup
// and a SHA-256 rather than a query: a revoked key stops working within
// that time. The gRPC interceptors (grpc.go) authenticate every call except
// health and reflection with go-grpc-middleware's auth and selector
// interceptors, from the metadata alone, before the server decodes the
// request, then authorize it from its decoded request before the handler
// runs: the shop the request names and the scope its method needs. A
// refusal is an *Error with a Reason; the server's one error mapping turns
// it into UNAUTHENTICATED or PERMISSION_DENIED with that reason.
package auth
