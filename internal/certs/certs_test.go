package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/featurestore/featurestore/internal/testenv"
)

// serveHealth serves grpc.health.v1 over tlsCfg on a loopback port.
func serveHealth(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return testenv.ServeGRPC(t, srv, "127.0.0.1:0")
}

// check makes a health call over a new connection with creds.
func check(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func clientTLS(roots *x509.CertPool, certs ...tls.Certificate) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12})
}

func TestTLSAndMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serverCA, clientCA, strangerCA := testenv.NewCA(t, "server CA"), testenv.NewCA(t, "client CA"), testenv.NewCA(t, "stranger CA")
	srvCert := serverCA.Server(t)
	r, err := NewReloader(testenv.WriteFile(t, dir, "tls.crt", srvCert.CertPEM), testenv.WriteFile(t, dir, "tls.key", srvCert.KeyPEM), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	plainCfg, err := ServerConfig(r, "")
	if err != nil {
		t.Fatal(err)
	}
	mutualCfg, err := ServerConfig(r, testenv.WriteFile(t, dir, "clients.pem", clientCA.PEM))
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, mtlsAddr := serveHealth(t, plainCfg), serveHealth(t, mutualCfg)
	client, stranger := clientCA.Client(t, "trainer").TLS(t), strangerCA.Client(t, "intruder").TLS(t)

	for _, tc := range []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
		ok    bool
	}{
		{"TLS: a client trusting the server's CA", tlsAddr, clientTLS(serverCA.Pool()), true},
		{"TLS: a client trusting another CA", tlsAddr, clientTLS(strangerCA.Pool()), false},
		{"TLS: a plaintext client", tlsAddr, insecure.NewCredentials(), false},
		{"mTLS: a client certificate of the client CA", mtlsAddr, clientTLS(serverCA.Pool(), client), true},
		{"mTLS: no client certificate", mtlsAddr, clientTLS(serverCA.Pool()), false},
		{"mTLS: a client certificate of another CA", mtlsAddr, clientTLS(serverCA.Pool(), stranger), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(t, tc.addr, tc.creds)
			if (err == nil) != tc.ok {
				t.Fatalf("health check: %v, want success %v", err, tc.ok)
			}
		})
	}
}

func TestServerConfigRejectsBadCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t, "ca")
	cert := ca.Server(t)
	r, err := NewReloader(testenv.WriteFile(t, dir, "c", cert.CertPEM), testenv.WriteFile(t, dir, "k", cert.KeyPEM), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ServerConfig(r, testenv.WriteFile(t, dir, "bad.pem", []byte("not pem"))); err == nil {
		t.Error("a client CA file without certificates was accepted")
	}
	if _, err := ServerConfig(r, dir+"/missing.pem"); err == nil {
		t.Error("a missing client CA file was accepted")
	}
	if _, err := NewReloader(dir+"/c", dir+"/bad.pem", testenv.Logger()); err == nil {
		t.Error("a key file that is no key was accepted")
	}
}

// TestReload replaces the certificate files under a running listener: new
// connections get the new certificate, and a pair that does not match
// (the certificate replaced, the key not yet) keeps the previous one in
// service.
func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t, "ca")
	first, second, third := ca.Server(t), ca.Server(t), ca.Server(t)
	certFile, keyFile := testenv.WriteFile(t, dir, "tls.crt", first.CertPEM), testenv.WriteFile(t, dir, "tls.key", first.KeyPEM)
	r, err := NewReloader(certFile, keyFile, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0 // look at the files on every handshake
	cfg, err := ServerConfig(r, "")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	served := func() *big.Int {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", lis.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}

	if got := served(); got.Cmp(first.Serial) != 0 {
		t.Fatalf("served serial %v, want the first %v", got, first.Serial)
	}
	testenv.WriteFile(t, dir, "tls.crt", second.CertPEM)
	testenv.WriteFile(t, dir, "tls.key", second.KeyPEM)
	if got := served(); got.Cmp(second.Serial) != 0 {
		t.Fatalf("after the files changed: serial %v, want the second %v", got, second.Serial)
	}
	testenv.WriteFile(t, dir, "tls.crt", third.CertPEM)
	if got := served(); got.Cmp(second.Serial) != 0 {
		t.Fatalf("with the new certificate's key not yet written: serial %v, want the second %v still", got, second.Serial)
	}
	testenv.WriteFile(t, dir, "tls.key", third.KeyPEM)
	if got := served(); got.Cmp(third.Serial) != 0 {
		t.Fatalf("once the key is written: serial %v, want the third %v", got, third.Serial)
	}
}
