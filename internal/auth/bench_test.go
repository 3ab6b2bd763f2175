package auth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// memoryStore is a KeyStore of one key, for benchmarks of the cached path.
type memoryStore struct{ key store.APIKey }

func (m *memoryStore) KeyByID(_ context.Context, id string) (store.APIKey, error) {
	if id != m.key.ID {
		return store.APIKey{}, store.ErrKeyNotFound
	}
	return m.key, nil
}

func (m *memoryStore) TouchKeys(context.Context, map[string]time.Time) error { return nil }

func benchVerifier(b *testing.B) (*Verifier, string) {
	id, secret, err := NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	hash := HashSecret(secret)
	v, err := NewVerifier(&memoryStore{key: store.APIKey{ID: id, Name: "bench", SecretHash: hash[:], Shops: []string{"shop"}, Scopes: []string{"read"}}},
		Config{}, testenv.Logger())
	if err != nil {
		b.Fatal(err)
	}
	return v, secret
}

// BenchmarkVerifyCached is the hot path of a key check: the key was
// verified before and is remembered.
func BenchmarkVerifyCached(b *testing.B) {
	v, secret := benchVerifier(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnaryInterceptors is what the interceptors add to a
// GetFeatures call with a remembered key: metadata, verification and
// authorization.
func BenchmarkUnaryInterceptors(b *testing.B) {
	v, secret := benchVerifier(b)
	authenticate, authorize := NewGRPC(v).UnaryInterceptors()
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret))
	req := &featurestorev1.GetFeaturesRequest{ShopId: "shop", CustomerId: "c", ProductIds: []string{"p"}}
	info := &grpc.UnaryServerInfo{FullMethod: featurestorev1.FeatureStoreService_GetFeatures_FullMethodName}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	call := func(ctx context.Context, req any) (any, error) {
		return authenticate(ctx, req, info, func(ctx context.Context, req any) (any, error) { return authorize(ctx, req, info, handler) })
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := call(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
