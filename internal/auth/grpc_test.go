package auth

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/metadata"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// TestInterceptorErrorsAreForTheServerToMap checks what the interceptors
// return, which the server's error mapping turns into statuses: an *Error
// with the reason for each refusal, and a plain error for the defect of an
// unauthenticated call reaching authorization.
func TestInterceptorErrorsAreForTheServerToMap(t *testing.T) {
	t.Parallel()
	key := &Key{Name: "reader", Scopes: ScopeRead, shops: []string{"shop-a"}}
	authed := context.WithValue(context.Background(), keyContext{}, key)
	g := NewGRPC(nil)
	for _, tc := range []struct {
		name string
		err  func() error
		want Reason // "" for an error that is not a refusal
	}{
		{"no authorization metadata", func() error {
			_, err := g.authenticate(metadata.NewIncomingContext(context.Background(), metadata.MD{}))
			return err
		}, ReasonKeyMissing},
		{"authorization that is not Bearer", func() error {
			_, err := g.authenticate(metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Basic abc")))
			return err
		}, ReasonKeyInvalid},
		{"a method without a rule", func() error {
			return authorize(authed, "/featurestore.v1.FeatureStoreService/DropEverything", nil)
		}, ReasonMethodUnknown},
		{"a scope the key lacks", func() error {
			return authorize(authed, featurestorev1.FeatureStoreService_ComputeFeatures_FullMethodName, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-a"})
		}, ReasonScopeMissing},
		{"a shop the key lacks", func() error {
			return authorize(authed, featurestorev1.FeatureStoreService_GetFeatures_FullMethodName, &featurestorev1.GetFeaturesRequest{ShopId: "shop-b"})
		}, ReasonShopDenied},
		{"authorization without authentication", func() error {
			return authorize(context.Background(), featurestorev1.FeatureStoreService_GetFeatures_FullMethodName, &featurestorev1.GetFeaturesRequest{ShopId: "shop-a"})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			e, ok := AsError(err)
			switch {
			case tc.want == "" && ok:
				t.Errorf("%v is a refusal %s, want a defect", err, e.Reason)
			case tc.want != "" && (!ok || e.Reason != tc.want):
				t.Errorf("%v, want a refusal %s", err, tc.want)
			case tc.want == "" && !errors.Is(err, errNotAuthenticated):
				t.Errorf("%v, want errNotAuthenticated", err)
			}
		})
	}
	if err := authorize(authed, featurestorev1.FeatureStoreService_GetFeatures_FullMethodName, &featurestorev1.GetFeaturesRequest{ShopId: "shop-a"}); err != nil {
		t.Errorf("a covered call: %v", err)
	}
}
