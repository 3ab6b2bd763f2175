package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// createKey stores a key in the database of pool and returns its secret.
func createKey(t *testing.T, pool *pgxpool.Pool, name string, shops []string, scopes auth.Scope, origins ...string) string {
	t.Helper()
	id, secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	hash := auth.HashSecret(secret)
	if _, _, err := store.New(pool).CreateKey(context.Background(),
		store.APIKey{ID: id, Name: name, SecretHash: hash[:], Shops: shops, Scopes: scopes.Names(), Origins: origins}, false); err != nil {
		t.Fatal(err)
	}
	return secret
}

func bearer(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// healthy checks the server at addr over creds.
func healthy(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestAuthNoneOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--addr", "0.0.0.0:50051"}, "--addr 0.0.0.0:50051"},
		{[]string{"--addr", ":50051"}, "--addr :50051"},
		{[]string{"--addr", "db.example.com:50051"}, "--addr db.example.com:50051"},
		{[]string{"--addr", "127.0.0.1:50051", "--http-addr", "[::]:8080"}, "--http-addr [::]:8080"},
	} {
		args := append([]string{"--database-url", "postgres://u@127.0.0.1:1/db", "--auth", "none"}, tc.args...)
		err := runServe(context.Background(), args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--auth none") || !strings.Contains(err.Error(), "loopback") ||
			!strings.Contains(err.Error(), tc.flag+" is not one") {
			t.Errorf("serve %v: %v, want a refusal saying why", tc.args, err)
		}
	}
	if err := runServe(context.Background(), []string{"--database-url", "postgres://u@127.0.0.1:1/db", "--auth", "open"}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--auth must be keys or none") {
		t.Errorf("--auth open: %v", err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.0.0.2:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "[::]:1": false, "10.0.0.1:1": false, "example.com:1": false, "127.0.0.1": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServeAuthNone serves without keys on loopback: calls need none.
func TestServeAuthNone(t *testing.T) {
	t.Parallel()
	_, dbURL := testenv.Postgres(t)
	addr := freeAddr(t)
	serveInProcess(t, []string{"--database-url", dbURL, "--addr", addr, "--metrics-addr=", "--auth", "none", "--log-level", "error"},
		func() error { return healthy(addr, insecure.NewCredentials()) })
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
	if _, err := client.DescribeFeatures(context.Background(), &featurestorev1.DescribeFeaturesRequest{}); err != nil {
		t.Errorf("DescribeFeatures without a key under --auth none: %v", err)
	}
}

// TestServeTLS serves gRPC over mutual TLS and the pixel endpoint over TLS
// with the same certificate, with keys: a call needs both a client
// certificate and a key.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	pool, dbURL := testenv.Postgres(t)
	dir := t.TempDir()
	serverCA, clientCA := testenv.NewCA(t, "server CA"), testenv.NewCA(t, "client CA")
	srv := serverCA.Server(t)
	certFile, keyFile := testenv.WriteFile(t, dir, "tls.crt", srv.CertPEM), testenv.WriteFile(t, dir, "tls.key", srv.KeyPEM)
	clientCAFile := testenv.WriteFile(t, dir, "clients.pem", clientCA.PEM)
	secret := createKey(t, pool, "reader", []string{"*"}, auth.ScopeRead)
	pixelKey := createKey(t, pool, "pixel", []string{"shop-1"}, auth.ScopePixel, "https://www.shop1.example")
	addr, httpAddr := freeAddr(t), freeAddr(t)
	mtls := credentials.NewTLS(&tls.Config{RootCAs: serverCA.Pool(), Certificates: []tls.Certificate{clientCA.Client(t, "trainer").TLS(t)}})
	serveInProcess(t, []string{"--database-url", dbURL, "--addr", addr, "--http-addr", httpAddr, "--metrics-addr=", "--log-level", "error",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", clientCAFile},
		func() error { return healthy(addr, mtls) })

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(mtls))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := featurestorev1.NewFeatureStoreServiceClient(conn)
	if _, err := client.DescribeFeatures(bearer(context.Background(), secret), &featurestorev1.DescribeFeaturesRequest{}); err != nil {
		t.Errorf("a key over mutual TLS: %v", err)
	}
	if _, err := client.DescribeFeatures(context.Background(), &featurestorev1.DescribeFeaturesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("mutual TLS without a key: %v, want UNAUTHENTICATED", err)
	}
	if err := healthy(addr, credentials.NewTLS(&tls.Config{RootCAs: serverCA.Pool()})); err == nil {
		t.Error("a client without a certificate was served")
	}
	if err := healthy(addr, insecure.NewCredentials()); err == nil {
		t.Error("a plaintext client was served")
	}

	// The pixel endpoint takes the same certificate, and no client one.
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool()}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+httpAddr+"/v1/pixel/shop-1?key="+pixelKey,
		strings.NewReader(`{"id": "ev-1", "name": "page_viewed", "timestamp": "2025-05-20T10:00:00Z"}`))
	req.Header.Set("Origin", "https://www.shop1.example")
	resp, err := https.Do(req)
	if err != nil {
		t.Fatalf("pixel over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(srv.Serial) != 0 {
		t.Errorf("pixel over TLS: status %d", resp.StatusCode)
	}
}

func TestServeRejectsBadTLSSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--tls-cert", missing}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", missing}, "--tls-client-ca needs --tls-cert"},
	} {
		err := runServe(context.Background(), append([]string{"--database-url", "postgres://u@127.0.0.1:1/db"}, tc.args...))
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("serve %v: %v, want %q", tc.args, err, tc.says)
		}
	}
}

// TestOperationsEndpoints checks that /metrics is served on its own
// address, /debug/pprof only with --pprof, and the command line never.
func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	_, dbURL := testenv.Postgres(t)
	get := func(u string) (int, string, error) {
		resp, err := http.Get(u)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for _, pprofOn := range []bool{false, true} {
		t.Run(fmt.Sprint("pprof ", pprofOn), func(t *testing.T) {
			metricsAddr := freeAddr(t)
			args := []string{"--database-url", dbURL, "--addr", freeAddr(t), "--metrics-addr", metricsAddr, "--log-level", "error"}
			if pprofOn {
				args = append(args, "--pprof")
			}
			serveInProcess(t, args, func() error { _, _, err := get("http://" + metricsAddr + "/metrics"); return err })
			code, body, err := get("http://" + metricsAddr + "/metrics")
			if err != nil || code != 200 || !strings.Contains(body, "grpc_server_handled_total") {
				t.Errorf("/metrics: %d, %v", code, err)
			}
			want := map[string]int{"/debug/pprof/": 404, "/debug/pprof/heap": 404, "/debug/pprof/cmdline": 404}
			if pprofOn {
				want["/debug/pprof/"], want["/debug/pprof/heap"] = 200, 200
			}
			for path, status := range want {
				code, body, err := get("http://" + metricsAddr + path)
				if err != nil || code != status {
					t.Errorf("%s: %d, %v; want %d", path, code, err, status)
				}
				if strings.Contains(body, "--database-url") {
					t.Errorf("%s shows the command line", path)
				}
			}
		})
	}
}

// TestExportSendsKeyOverTLS exports from a server that checks keys, over
// TLS: with --api-key and --tls-ca it succeeds, without the key it fails
// naming the problem.
func TestExportSendsKeyOverTLS(t *testing.T) {
	t.Parallel()
	fx := newExportFixture(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, "ca")
	srvCert := ca.Server(t)
	secret := createKey(t, fx.pool, "exporter", []string{exportShop}, auth.ScopeExport)
	st := store.New(fx.pool)
	v, err := auth.NewVerifier(st, auth.Config{}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.NewService(server.Config{Exporter: st}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	cert := srvCert.TLS(t)
	srv := server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil, server.WithAuth(auth.NewGRPC(v)),
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	addr := testenv.ServeGRPC(t, srv, "127.0.0.1:0")
	caFile := testenv.WriteFile(t, dir, "ca.pem", ca.PEM)

	out := filepath.Join(dir, "rows.csv")
	if err := runExport(context.Background(), []string{"--addr", addr, "--shop", exportShop, "--out", out, "--tls-ca", caFile, "--api-key", secret}); err != nil {
		t.Fatalf("export with a key over TLS: %v", err)
	}
	checkExport(t, out, export.CSV, fx.want(t, nil))
	err = runExport(context.Background(), []string{"--addr", addr, "--shop", exportShop, "--out", filepath.Join(dir, "nokey.csv"), "--tls-ca", caFile})
	if err == nil || !strings.Contains(err.Error(), "this call needs an API key") {
		t.Errorf("export without a key: %v, want the server's refusal", err)
	}
}

// TestKeysCommand creates, lists, replaces and revokes keys through the
// binary, and checks that bad requests are refused with the flag at fault.
func TestKeysCommand(t *testing.T) {
	t.Parallel()
	pool, dbURL := testenv.Postgres(t)
	st := store.New(pool)
	db := []string{"--database-url", dbURL}
	keys := func(args ...string) (string, string, int) {
		return runBinary(t, append(append([]string{"keys"}, args...), db...)...)
	}
	lastLine := func(s string) string { lines := strings.Split(strings.TrimSpace(s), "\n"); return lines[len(lines)-1] }
	verify := func(secret string) (*auth.Key, error) {
		// A fresh verifier each time, so nothing is remembered.
		v, err := auth.NewVerifier(st, auth.Config{}, testenv.Logger())
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(context.Background(), secret)
	}

	out, errOut, code := keys("create", "--name", "trainer", "--shops", "shop-a,shop-b", "--scopes", "export,read", "--expires", "30d")
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, errOut)
	}
	secret := lastLine(out)
	k, err := verify(secret)
	if err != nil || k.Name != "trainer" || k.Scopes != auth.ScopeRead|auth.ScopeExport || fmt.Sprint(k.Shops()) != "[shop-a shop-b]" ||
		k.ExpiresAt.Sub(time.Now().Add(30*24*time.Hour)).Abs() > time.Hour {
		t.Fatalf("the printed secret %q verifies as %+v, %v", secret, k, err)
	}
	out, _, code = keys("create", "--name", "storefront", "--shops", "shop-a", "--scopes", "pixel", "--origins", "https://www.shop-a.example")
	if code != 0 || !strings.Contains(out, "/v1/pixel/shop-a?key=") {
		t.Fatalf("keys create a pixel key: exit %d: %s", code, out)
	}
	pixelSecret := lastLine(out)

	out, _, code = keys("list")
	if code != 0 || !strings.Contains(out, "trainer") || !strings.Contains(out, "storefront") || !strings.Contains(out, "https://www.shop-a.example") ||
		strings.Contains(out, secret[len(auth.Prefix):]) || strings.Contains(out, pixelSecret[len(auth.Prefix):]) {
		t.Fatalf("keys list: exit %d:\n%s", code, out)
	}

	_, errOut, code = keys("create", "--name", "trainer", "--shops", "shop-a", "--scopes", "read")
	if code != 2 || !strings.Contains(errOut, `a key named "trainer" exists`) {
		t.Errorf("a second key of the same name: exit %d: %s", code, errOut)
	}
	out, errOut, code = keys("create", "--name", "trainer", "--shops", "*", "--scopes", "read", "--replace")
	if code != 0 || !strings.Contains(out, `Revoked the previous key named "trainer"`) {
		t.Fatalf("--replace: exit %d: %s%s", code, out, errOut)
	}
	if _, err := verify(secret); !isReason(err, auth.ReasonKeyRevoked) {
		t.Errorf("the replaced key: %v, want revoked", err)
	}
	replacement := lastLine(out)
	if k, err := verify(replacement); err != nil || fmt.Sprint(k.Shops()) != "[*]" {
		t.Errorf("the replacement: %+v, %v", k, err)
	}

	out, errOut, code = keys("revoke", "trainer")
	if code != 0 || !strings.Contains(out, `Revoked API key "trainer"`) {
		t.Fatalf("keys revoke: exit %d: %s%s", code, out, errOut)
	}
	if _, err := verify(replacement); !isReason(err, auth.ReasonKeyRevoked) {
		t.Errorf("after keys revoke: %v, want revoked", err)
	}
	_, errOut, code = keys("revoke", "trainer")
	if code == 0 || !strings.Contains(errOut, `no key named "trainer" is active`) {
		t.Errorf("revoking twice: exit %d: %s", code, errOut)
	}
	out, _, _ = keys("list")
	if strings.Count(out, "revoked ") != 2 {
		t.Errorf("keys list shows %d revoked keys, want 2:\n%s", strings.Count(out, "revoked "), out)
	}

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--shops", "s", "--scopes", "read"}, "--name is required"},
		{[]string{"--name", "n", "--scopes", "read"}, "--shops is required"},
		{[]string{"--name", "n", "--shops", "s"}, "--scopes is required"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "write"}, `--scopes: unknown scope "write"`},
		{[]string{"--name", "n", "--shops", "*,s", "--scopes", "read"}, "'*' means every shop and goes alone"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "pixel,read"}, "a pixel key is public"},
		{[]string{"--name", "n", "--shops", "*", "--scopes", "pixel"}, "a pixel key is for one shop"},
		{[]string{"--name", "n", "--shops", "a,b", "--scopes", "pixel"}, "a pixel key is for one shop"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "pixel", "--origins", "shop.example"}, "--origins: origin"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "read", "--origins", "https://a.example"}, "--origins applies to pixel keys only"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "read", "--expires", "-1h"}, "--expires"},
		{[]string{"--name", "n", "--shops", "s", "--scopes", "read", "--expires", "soon"}, "--expires"},
		{[]string{"--name", strings.Repeat("n", 101), "--shops", "s", "--scopes", "read"}, "--name is 101 characters long"},
	} {
		_, errOut, code := keys(append([]string{"create"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.says) {
			t.Errorf("keys create %v: exit %d, %q; want exit 2 saying %q", tc.args, code, errOut, tc.says)
		}
	}
}

func isReason(err error, r auth.Reason) bool {
	e, ok := auth.AsError(err)
	return ok && e.Reason == r
}

// TestPasswordsStayOutOfLogsErrorsAndMetrics runs the binary with a
// DATABASE_URL and a REDIS_URL that carry passwords, on the command line
// where /debug/pprof/cmdline would show them, makes it log, fail and
// export metrics, and searches everything it printed and served for them.
func TestPasswordsStayOutOfLogsErrorsAndMetrics(t *testing.T) {
	admin := testenv.DatabaseURL(t) // skips or fails without DATABASE_URL
	base, err := url.Parse(admin)
	if err != nil || base.Scheme == "" {
		t.Skipf("DATABASE_URL is not a URL (%v): the test puts a password into one", err)
	}
	ctx := context.Background()
	dbPassword := fmt.Sprintf("dbpw-%d-%x", os.Getpid(), time.Now().UnixNano())
	redisPassword := fmt.Sprintf("redispw-%d-%x", os.Getpid(), time.Now().UnixNano())
	role := fmt.Sprintf("fs_pw_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000)

	// A role with the password owns the test database, so the password
	// is the one that works where Postgres checks passwords.
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(base.Path, "/")
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + dbPassword + "'",
		"ALTER DATABASE " + dbName + " OWNER TO " + role,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", strings.Replace(sql, dbPassword, "***", 1), err)
		}
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), os.Getenv("DATABASE_URL"))
		if err != nil {
			t.Errorf("drop role: %v", err)
			return
		}
		defer conn.Close(context.Background())
		// The role owns the database, whose own cleanup runs after this
		// one: drop the database first.
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
		if _, err := conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	withPassword := *base
	withPassword.User = url.UserPassword(role, dbPassword)
	dbURL := withPassword.String()
	redisURL, err := url.Parse(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	redisURL.User = url.UserPassword("", redisPassword)

	addr, httpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	srv := startBinary(t, "serve", "--database-url", dbURL, "--redis-url", redisURL.String(), "--addr", addr, "--http-addr", httpAddr,
		"--metrics-addr", metricsAddr, "--pprof", "--log-level", "debug", "--health-interval", "100ms")
	deadline := time.Now().Add(60 * time.Second)
	for healthy(addr, insecure.NewCredentials()) != nil {
		select {
		case <-srv.done:
			t.Fatalf("serve stopped: %s", srv.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not become healthy: %s", srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var seen []string // everything the server answered or printed
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	secret := createKey(t, pool, "reader", []string{"*"}, auth.ScopeRead)
	client := featurestorev1.NewFeatureStoreServiceClient(testenv.DialGRPC(t, addr))
	call := func(ctx context.Context, req *featurestorev1.GetFeaturesRequest) {
		_, err := client.GetFeatures(ctx, req)
		seen = append(seen, fmt.Sprint(err))
	}
	call(ctx, &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: []string{"p"}})
	call(bearer(ctx, "fsk_bad"), &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: []string{"p"}})
	call(bearer(ctx, secret), &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: []string{"p"}})
	call(bearer(ctx, secret), &featurestorev1.GetFeaturesRequest{ShopId: "s"})
	// Cut the server's database connections under it: it logs the errors
	// and reconnects.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid() AND application_name = 'featurestore'`, role); err != nil {
		t.Fatal(err)
	}
	call(bearer(ctx, secret), &featurestorev1.GetFeaturesRequest{ShopId: "s", CustomerId: "c", ProductIds: []string{"p"}})
	var metricsText string
	for _, path := range []string{"/metrics", "/debug/pprof/cmdline", "/debug/pprof/", "/debug/pprof/goroutine?debug=2"} {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen = append(seen, path+": "+string(b))
		if path == "/metrics" {
			metricsText = string(b)
		}
	}
	resp, err := http.Post("http://"+httpAddr+"/v1/pixel/s", "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	seen = append(seen, string(b))
	srv.stop(t)
	seen = append(seen, srv.stdout.String(), srv.stderr.String())
	if !strings.Contains(srv.stderr.String(), "serving gRPC") || !strings.Contains(srv.stderr.String(), "api_key=reader") ||
		!strings.Contains(metricsText, "featurestore_postgres_pool_connections") {
		t.Fatalf("the server's output is not what the test expects to search:\n%s", srv.stderr.String())
	}

	// Commands that fail on the URLs say what is wrong without them.
	unreachable := withPassword
	unreachable.Host = "127.0.0.1:1"
	badMode := withPassword
	q := badMode.Query()
	q.Set("sslmode", "bogus")
	badMode.RawQuery = q.Encode()
	for _, args := range [][]string{
		{"migrate", "--database-url", unreachable.String()},
		{"keys", "list", "--database-url", unreachable.String()},
		{"migrate", "--database-url", badMode.String()},
		{"migrate", "--database-url", strings.Replace(dbURL, "@", "@%zz", 1)},
		{"serve", "--database-url", dbURL, "--redis-url", "redis://:" + redisPassword + "@127.0.0.1:1/%zz", "--metrics-addr="},
		{"serve", "--database-url", dbURL, "--addr", "256.0.0.1:1", "--metrics-addr="},
	} {
		stdout, stderr, code := runBinary(t, args...)
		if code == 0 || stderr == "" {
			t.Errorf("%v: exit %d, %q; want it to fail saying why", args[:2], code, stderr)
		}
		seen = append(seen, stdout, stderr)
	}

	for _, text := range seen {
		for name, pw := range map[string]string{"database": dbPassword, "redis": redisPassword} {
			if strings.Contains(text, pw) {
				t.Errorf("the %s password appears in:\n%s", name, text)
			}
		}
	}
}
