package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// newKey stores a key and returns its secret.
func newKey(t *testing.T, st *store.Store, name string, shops []string, scopes auth.Scope, expires *time.Time) string {
	t.Helper()
	id, secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	hash := auth.HashSecret(secret)
	if _, _, err := st.CreateKey(context.Background(), store.APIKey{ID: id, Name: name, SecretHash: hash[:], Shops: shops, Scopes: scopes.Names(), ExpiresAt: expires}, false); err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return secret
}

// startAuthServer serves every RPC from st with API keys checked by a
// verifier remembering checks for ttl, on a real port, logging to logs at
// DEBUG (where successful calls are logged).
func startAuthServer(t *testing.T, st *store.Store, ttl time.Duration, logs io.Writer, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine := newEngine(t, st, compute.DefaultConfig())
	svc := newService(t, server.Config{Computer: engine, Rows: engine, Reader: st, Exporter: st, Ingester: ingest.NewWriter(st)})
	v, err := auth.NewVerifier(st, auth.Config{CacheTTL: ttl}, logger)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, server.WithAuth(auth.NewGRPC(v)))
	addr := testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), logger, nil, opts...), "127.0.0.1:0")
	return testenv.DialGRPC(t, addr)
}

func withKey(ctx context.Context, secret string) context.Context {
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// drain reads a server stream to its end and counts the records or
// messages it carried.
func drain[T any](stream grpc.ServerStreamingClient[T], err error, n func(*T) int) (int, error) {
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		total += n(msg)
	}
}

// TestAuthMatrix calls every RPC with no key, bad keys, a revoked, an
// expired key, a key of another shop, one without the RPC's scope and one
// with only that scope, and checks the code and that a refused call
// returned and stored nothing.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	ctx := context.Background()
	asOf := mustTime(t, "2025-06-01T00:00:00Z")
	st := store.New(pool)
	if _, err := newEngine(t, st, compute.DefaultConfig()).Run(ctx, compute.Request{ShopID: "shop-0", AsOf: asOf, Mode: compute.Full}, nil); err != nil {
		t.Fatal(err)
	}
	var customer, product string
	if err := pool.QueryRow(ctx, `SELECT customer_id, product_id FROM interaction_features WHERE shop_id = 'shop-0' LIMIT 1`).Scan(&customer, &product); err != nil {
		t.Fatal(err)
	}

	all := auth.ScopeRead | auth.ScopeExport | auth.ScopeCompute | auth.ScopeIngest
	past := time.Now().Add(-time.Minute)
	secrets := map[string]string{
		"other shop": newKey(t, st, "other-shop", []string{"shop-1"}, all, nil),
		"revoked":    newKey(t, st, "revoked", []string{"shop-0"}, all, nil),
		"expired":    newKey(t, st, "expired", []string{"shop-0"}, all, &past),
	}
	if _, err := st.RevokeKey(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	only := map[auth.Scope]string{}
	without := map[auth.Scope]string{}
	for _, s := range []auth.Scope{auth.ScopeRead, auth.ScopeExport, auth.ScopeCompute, auth.ScopeIngest} {
		only[s] = newKey(t, st, "only-"+s.String(), []string{"shop-0"}, s, nil)
		without[s] = newKey(t, st, "no-"+s.String(), []string{"shop-0"}, all&^s, nil)
	}
	_, unknown, _ := auth.NewSecret()
	valid := only[auth.ScopeRead]
	wrongSecret := valid[:len(valid)-4] + "aaaa"
	if wrongSecret == valid {
		wrongSecret = valid[:len(valid)-4] + "bbbb"
	}

	logs := &testenv.SyncBuffer{}
	conn := startAuthServer(t, st, time.Second, logs)
	client := featurestorev1.NewFeatureStoreServiceClient(conn)

	ingested := 0
	type rpc struct {
		name  string
		scope auth.Scope
		// call makes the call and says how much it returned: results,
		// records, progress messages or rows inserted.
		call func(ctx context.Context) (int, error)
		// stored counts what the RPC has written so far.
		stored func() int
	}
	runs := func() int { return count(t, pool, `SELECT count(*) FROM feature_runs`) }
	rpcs := []rpc{
		{"GetFeatures", auth.ScopeRead, func(ctx context.Context) (int, error) {
			resp, err := client.GetFeatures(ctx, &featurestorev1.GetFeaturesRequest{ShopId: "shop-0", CustomerId: customer, ProductIds: []string{product}})
			return len(resp.GetResults()), err
		}, nil},
		{"DescribeFeatures", auth.ScopeRead, func(ctx context.Context) (int, error) {
			resp, err := client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{})
			return len(resp.GetFeatures()), err
		}, nil},
		{"StreamFeatures", auth.ScopeExport, func(ctx context.Context) (int, error) {
			s, err := client.StreamFeatures(ctx, &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", BatchSize: 50})
			return drain(s, err, func(m *featurestorev1.StreamFeaturesResponse) int { return len(m.GetRecords()) })
		}, nil},
		{"StreamFeatures compute=true", auth.ScopeExport, func(ctx context.Context) (int, error) {
			s, err := client.StreamFeatures(ctx, &featurestorev1.StreamFeaturesRequest{ShopId: "shop-0", Compute: true, AsOf: timestamppb.New(asOf), BatchSize: 50})
			return drain(s, err, func(m *featurestorev1.StreamFeaturesResponse) int { return len(m.GetRecords()) })
		}, nil},
		{"ComputeFeatures", auth.ScopeCompute, func(ctx context.Context) (int, error) {
			s, err := client.ComputeFeatures(ctx, &featurestorev1.ComputeFeaturesRequest{ShopId: "shop-0", AsOf: timestamppb.New(asOf)})
			return drain(s, err, func(*featurestorev1.ComputeFeaturesResponse) int { return 1 })
		}, runs},
		{"IngestInteractions", auth.ScopeIngest, func(ctx context.Context) (int, error) {
			ingested++
			resp, err := client.IngestInteractions(ctx, &featurestorev1.IngestInteractionsRequest{Interactions: []*featurestorev1.Interaction{{
				Id: fmt.Sprintf("auth-%d", ingested), ShopId: "shop-0", EventType: "page_viewed", CreatedAt: timestamppb.New(asOf),
			}}})
			return int(resp.GetInserted()), err
		}, func() int { return count(t, pool, `SELECT count(*) FROM user_interactions WHERE id LIKE 'auth-%'`) }},
	}

	columns := []string{"no key", "malformed key", "unknown key", "wrong secret", "revoked", "expired", "other shop", "missing scope", "valid"}
	table := map[string]map[string]codes.Code{}
	for _, r := range rpcs {
		table[r.name] = map[string]codes.Code{}
		for _, col := range columns {
			t.Run(r.name+"/"+col, func(t *testing.T) {
				secret := map[string]string{
					"no key": "", "malformed key": "fsk_not-a-key", "unknown key": unknown, "wrong secret": wrongSecret,
					"revoked": secrets["revoked"], "expired": secrets["expired"], "other shop": secrets["other shop"],
					"missing scope": without[r.scope], "valid": only[r.scope],
				}[col]
				want, reason, says := codes.Unauthenticated, auth.Reason(""), ""
				switch col {
				case "other shop":
					want, reason, says = codes.PermissionDenied, auth.ReasonShopDenied, `API key "other-shop" does not cover shop "shop-0"`
					if r.name == "DescribeFeatures" {
						// The catalogue belongs to no shop.
						want = codes.OK
					}
				case "missing scope":
					want, reason, says = codes.PermissionDenied, auth.ReasonScopeMissing, fmt.Sprintf("lacks the scope %s, which %s needs", r.scope, strings.Fields(r.name)[0])
				case "valid":
					want = codes.OK
				case "no key":
					reason, says = auth.ReasonKeyMissing, "authorization: Bearer"
				case "revoked":
					reason, says = auth.ReasonKeyRevoked, "revoked"
				case "expired":
					reason, says = auth.ReasonKeyExpired, "expired"
				default:
					reason, says = auth.ReasonKeyInvalid, "API key"
				}
				before := 0
				if r.stored != nil {
					before = r.stored()
				}
				cctx, cancel := context.WithTimeout(withKey(ctx, secret), time.Minute)
				defer cancel()
				returned, err := r.call(cctx)
				st := status.Convert(err)
				table[r.name][col] = st.Code()
				if st.Code() != want {
					t.Fatalf("code %s (%s), want %s", st.Code(), st.Message(), want)
				}
				after := 0
				if r.stored != nil {
					after = r.stored()
				}
				if want != codes.OK {
					if returned != 0 || after != before {
						t.Errorf("a refused call returned %d items and stored %d", returned, after-before)
					}
					if !strings.Contains(st.Message(), says) {
						t.Errorf("message %q, want it to say %q", st.Message(), says)
					}
					var info *errdetails.ErrorInfo
					for _, d := range st.Details() {
						if i, ok := d.(*errdetails.ErrorInfo); ok {
							info = i
						}
					}
					if info == nil || info.GetReason() != string(reason) || info.GetDomain() != server.ErrorDomain {
						t.Errorf("ErrorInfo = %v, want reason %s", info, reason)
					}
					return
				}
				if returned == 0 {
					t.Errorf("an allowed call returned nothing")
				}
				if r.stored != nil && after <= before {
					t.Errorf("an allowed call stored nothing")
				}
			})
		}
	}

	// The measured table, for the record.
	var out strings.Builder
	out.WriteString("\n| RPC | " + strings.Join(columns, " | ") + " |\n|---" + strings.Repeat("|---", len(columns)) + "|\n")
	for _, r := range rpcs {
		out.WriteString("| " + r.name)
		for _, col := range columns {
			out.WriteString(" | " + table[r.name][col].String())
		}
		out.WriteString(" |\n")
	}
	t.Log(out.String())

	// The request log names the key of each call, never its secret.
	text := logs.String()
	if !strings.Contains(text, "api_key=only-read") || !strings.Contains(text, "api_key=no-compute") {
		t.Errorf("the request log does not name the keys:\n%s", text)
	}
	for name, secret := range map[string]string{"valid": valid, "unknown": unknown, "other": secrets["other shop"]} {
		if strings.Contains(text, secret[len(auth.Prefix):]) {
			t.Errorf("the log holds the secret of the %s key", name)
		}
	}
}

// TestAuthChecksEveryShopOfABatch ingests a batch of two shops with a key
// of one: nothing of either is stored.
func TestAuthChecksEveryShopOfABatch(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	secret := newKey(t, st, "shop-0-ingest", []string{"shop-0"}, auth.ScopeIngest, nil)
	client := featurestorev1.NewFeatureStoreServiceClient(startAuthServer(t, st, time.Second, io.Discard))
	at := timestamppb.New(mustTime(t, "2025-06-01T00:00:00Z"))
	var batch []*featurestorev1.Interaction
	for i, shop := range []string{"shop-0", "shop-0", "shop-1", "shop-0"} {
		batch = append(batch, &featurestorev1.Interaction{Id: fmt.Sprint("ev-", i), ShopId: shop, EventType: "page_viewed", CreatedAt: at})
	}
	_, err := client.IngestInteractions(withKey(context.Background(), secret), &featurestorev1.IngestInteractionsRequest{Interactions: batch})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), `does not cover shop "shop-1"`) {
		t.Fatalf("IngestInteractions of two shops: %v, want PERMISSION_DENIED naming shop-1", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM user_interactions`); n != 0 {
		t.Errorf("%d rows stored", n)
	}
}

// TestAuthRevocationTakesEffect revokes a key in use: calls are refused
// once the verifier's remembered check ends.
func TestAuthRevocationTakesEffect(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	secret := newKey(t, st, "soon-revoked", []string{"*"}, auth.ScopeRead, nil)
	client := featurestorev1.NewFeatureStoreServiceClient(startAuthServer(t, st, 200*time.Millisecond, io.Discard))
	ctx := withKey(context.Background(), secret)
	if _, err := client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeKey(context.Background(), "soon-revoked"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := client.DescribeFeatures(ctx, &featurestorev1.DescribeFeaturesRequest{})
		if status.Code(err) == codes.Unauthenticated {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("after the revocation: %v, want UNAUTHENTICATED", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuthLeavesHealthAndReflectionOpen calls health and reflection
// without a key, and checks that reflection can be turned off.
func TestAuthLeavesHealthAndReflectionOpen(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	listServices := func(conn *grpc.ClientConn) ([]string, error) {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
		if err != nil {
			return nil, err
		}
		// A server that ends the call before the request is sent makes
		// Send fail with io.EOF; Recv then returns the call's status.
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, nil
	}

	conn := startAuthServer(t, st, time.Second, io.Discard)
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without a key: %v", err)
	}
	names, err := listServices(conn)
	if err != nil || !slices.Contains(names, "featurestore.v1.FeatureStoreService") {
		t.Errorf("reflection without a key: %v, %v", names, err)
	}
	if _, err := featurestorev1.NewFeatureStoreServiceClient(conn).DescribeFeatures(context.Background(), &featurestorev1.DescribeFeaturesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("DescribeFeatures without a key: %v, want UNAUTHENTICATED", err)
	}

	closed := startAuthServer(t, st, time.Second, io.Discard, server.WithoutReflection())
	if _, err := listServices(closed); status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection turned off: %v, want UNIMPLEMENTED", err)
	}
}

// TestAuthWhenKeysCannotBeChecked serves with a key store that does not
// answer: a call is UNAVAILABLE with the reason DATABASE_UNAVAILABLE in the
// service's domain, like any other call that cannot reach Postgres.
func TestAuthWhenKeysCannotBeChecked(t *testing.T) {
	t.Parallel()
	downCfg, err := pgxpool.ParseConfig("postgres://postgres@" + freeAddr(t) + "/featurestore?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	downPool, err := pgxpool.NewWithConfig(context.Background(), downCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer downPool.Close()
	client := featurestorev1.NewFeatureStoreServiceClient(startAuthServer(t, store.New(downPool), time.Second, io.Discard))
	_, secret, _ := auth.NewSecret()
	_, err = client.DescribeFeatures(withKey(context.Background(), secret), &featurestorev1.DescribeFeaturesRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("DescribeFeatures with the key store down: %v, want UNAVAILABLE", err)
	}
	if info := errorInfo(err); info.GetReason() != server.ReasonDatabaseUnavailable || info.GetDomain() != server.ErrorDomain {
		t.Errorf("ErrorInfo %v, want reason %s in domain %s", info, server.ReasonDatabaseUnavailable, server.ErrorDomain)
	}
}
