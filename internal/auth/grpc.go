package auth

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// rule is what one method needs of a key: a scope, and the shops its
// request names.
type rule struct {
	scope Scope
	// shops yields the shops a request acts on; nil for a method that
	// acts on none. An empty shop id is not yielded: the handler rejects
	// the request as invalid before it reads or writes anything.
	shops func(req any) iter.Seq[string]
}

// rules maps every method that needs a key to what it needs. A method
// missing here is refused to every key, so a new RPC is closed until it
// is given a rule.
var rules = map[string]rule{
	featurestorev1.FeatureStoreService_GetFeatures_FullMethodName:        {ScopeRead, requestShop},
	featurestorev1.FeatureStoreService_DescribeFeatures_FullMethodName:   {ScopeRead, nil},
	featurestorev1.FeatureStoreService_StreamFeatures_FullMethodName:     {ScopeExport, requestShop},
	featurestorev1.FeatureStoreService_ComputeFeatures_FullMethodName:    {ScopeCompute, requestShop},
	featurestorev1.FeatureStoreService_IngestInteractions_FullMethodName: {ScopeIngest, interactionShops},
}

// open are the services anyone may call: load balancers probe health
// without credentials, and reflection describes the API, not the data.
var open = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName:                    true,
	reflectionv1.ServerReflection_ServiceDesc.ServiceName:      true,
	reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName: true,
}

// needsKey selects every call but those of the open services.
var needsKey = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return !open[c.Service] })

func requestShop(req any) iter.Seq[string] {
	return func(yield func(string) bool) {
		if r, ok := req.(interface{ GetShopId() string }); ok && r.GetShopId() != "" {
			yield(r.GetShopId())
		}
	}
}

func interactionShops(req any) iter.Seq[string] {
	return func(yield func(string) bool) {
		r, _ := req.(*featurestorev1.IngestInteractionsRequest)
		last := ""
		for _, it := range r.GetInteractions() {
			// Batches are mostly of one shop: skip repeats cheaply.
			if s := it.GetShopId(); s != "" && s != last {
				last = s
				if !yield(s) {
					return
				}
			}
		}
	}
}

// GRPC authenticates and authorizes the calls of a gRPC server.
//
// Its interceptors return errors, not statuses, for the server's one error
// mapping to turn into codes and ErrorInfo reasons: an *Error for a refused
// caller, the Verifier's error (wrapping store.ErrUnavailable) when a key
// cannot be checked, and context errors as they are.
type GRPC struct {
	verifier *Verifier
}

// NewGRPC returns the interceptors' owner for keys checked by verifier.
func NewGRPC(verifier *Verifier) *GRPC {
	return &GRPC{verifier: verifier}
}

// UnaryInterceptors returns the interceptor that authenticates a call and
// the one that authorizes its request. Both belong inside request logging
// (whose line they add the key's name to) and the mapping of their errors
// to statuses, and outside the handler. Authentication reads only the
// call's metadata, so it may run before the request is decoded, and
// should: a caller without a valid key then learns nothing of how its
// request would be answered. Authorization reads the request, so it runs
// after the request is decoded.
func (g *GRPC) UnaryInterceptors() (authn, authz grpc.UnaryServerInterceptor) {
	return selector.UnaryServerInterceptor(grpcauth.UnaryServerInterceptor(g.authenticate), needsKey),
		selector.UnaryServerInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := authorize(ctx, info.FullMethod, req); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}, needsKey)
}

// StreamInterceptors is UnaryInterceptors for streaming calls: each
// request message is authorized as it is received (and so must be decoded
// by then), so a server-streaming handler is refused before it has read
// or written anything.
func (g *GRPC) StreamInterceptors() (authn, authz grpc.StreamServerInterceptor) {
	return selector.StreamServerInterceptor(grpcauth.StreamServerInterceptor(g.authenticate), needsKey),
		selector.StreamServerInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, &authorizedStream{ServerStream: ss, method: info.FullMethod})
		}, needsKey)
}

// keyContext is the context key of the caller's *Key.
type keyContext struct{}

// KeyFromContext returns the key that authenticated the call of ctx.
func KeyFromContext(ctx context.Context) (*Key, bool) {
	k, ok := ctx.Value(keyContext{}).(*Key)
	return k, ok
}

// authenticate is the grpcauth.AuthFunc: the call's bearer key, verified.
func (g *GRPC) authenticate(ctx context.Context) (context.Context, error) {
	secret, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		if len(metadata.ValueFromIncomingContext(ctx, "authorization")) == 0 {
			return nil, errKeyMissing
		}
		return nil, refuse(ReasonKeyInvalid, nil, "the authorization metadata must be Bearer followed by the API key")
	}
	key, err := g.verifier.Verify(ctx, secret)
	if err != nil {
		return nil, fmt.Errorf("check the api key: %w", err)
	}
	// The request log names the key, never its secret.
	logging.AddFields(ctx, logging.Fields{"api_key", key.Name})
	return context.WithValue(ctx, keyContext{}, key), nil
}

// authorize checks the authenticated key of ctx against what method needs
// for req.
func authorize(ctx context.Context, method string, req any) error {
	key, ok := KeyFromContext(ctx)
	if !ok {
		// Authentication runs first for every call this runs for.
		return errNotAuthenticated
	}
	name := method[strings.LastIndexByte(method, '/')+1:]
	r, ok := rules[method]
	if !ok {
		return refuse(ReasonMethodUnknown, map[string]string{"method": name}, "no API key scope grants %s", name)
	}
	if err := key.Authorize(r.scope, name); err != nil {
		return err
	}
	if r.shops == nil || key.allShops {
		return nil
	}
	for shop := range r.shops(req) {
		if !key.AllowsShop(shop) {
			return key.Authorize(r.scope, name, shop)
		}
	}
	return nil
}

// errNotAuthenticated is a defect: authorization ran for a call that
// authentication did not.
var errNotAuthenticated = errors.New("authorize: the call was not authenticated")

// authorizedStream authorizes each request message of a streaming call.
type authorizedStream struct {
	grpc.ServerStream
	method string
}

func (s *authorizedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return authorize(s.Context(), s.method, m)
}
