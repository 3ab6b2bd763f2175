package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/certs"
	"github.com/featurestore/featurestore/internal/server"
)

// securityConfig is how the server authenticates callers and protects its
// connections and operations endpoints.
type securityConfig struct {
	Auth        string
	Reflection  bool
	TLSCert     string
	TLSKey      string
	TLSClientCA string
	PProf       bool
}

// flags registers the settings; env collects the environment variables
// whose values do not parse.
func (c *securityConfig) flags(fs *flag.FlagSet, env *config) {
	fs.StringVar(&c.Auth, "auth", envString("FEATURESTORE_AUTH", "keys"),
		"keys: every data call needs an API key (featurestore keys create), every pixel request a pixel key; "+
			"none: no authentication, allowed only when --addr and --http-addr are loopback addresses (env FEATURESTORE_AUTH)")
	fs.BoolVar(&c.Reflection, "reflection", env.envBool("FEATURESTORE_REFLECTION", true), "serve gRPC reflection, which describes the API to tools such as grpcurl (env FEATURESTORE_REFLECTION)")
	fs.StringVar(&c.TLSCert, "tls-cert", envString("FEATURESTORE_TLS_CERT", ""),
		"PEM certificate (chain) to serve gRPC, and the HTTP API, over TLS; read again when the file changes (env FEATURESTORE_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", envString("FEATURESTORE_TLS_KEY", ""), "PEM private key of --tls-cert (env FEATURESTORE_TLS_KEY)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", envString("FEATURESTORE_TLS_CLIENT_CA", ""),
		"PEM certificates of the authorities whose client certificates gRPC callers must present (mutual TLS); empty asks for none (env FEATURESTORE_TLS_CLIENT_CA)")
	fs.BoolVar(&c.PProf, "pprof", env.envBool("FEATURESTORE_PPROF", false), "serve /debug/pprof/ profiles beside /metrics on --metrics-addr (env FEATURESTORE_PPROF)")
}

func (c *securityConfig) validate(addr, httpAddr string) error {
	switch c.Auth {
	case "keys":
	case "none":
		for _, a := range []struct{ flag, addr string }{{"--addr", addr}, {"--http-addr", httpAddr}} {
			if a.addr != "" && !isLoopback(a.addr) {
				return fmt.Errorf("%w: --auth none serves every shop's data, and takes its events, from anyone who reaches the port, "+
					"so it is allowed only on a loopback address, and %s %s is not one: listen on 127.0.0.1 or use --auth keys", errUsage, a.flag, a.addr)
			}
		}
	default:
		return fmt.Errorf("%w: --auth must be keys or none, not %q", errUsage, c.Auth)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together: give both or neither", errUsage)
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key: client certificates are checked only over TLS", errUsage)
	}
	return nil
}

// isLoopback reports whether the listen address addr binds only to a
// loopback interface. A host left empty or 0.0.0.0 binds to every one.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// security is what serve builds from securityConfig.
type security struct {
	// verifier checks API keys; nil with --auth none.
	verifier *auth.Verifier
	// grpcOpts authenticate calls, turn reflection off and serve TLS, as
	// configured.
	grpcOpts []grpc.ServerOption
	// httpTLS serves the HTTP API over TLS with the same certificate; nil
	// without --tls-cert.
	httpTLS *tls.Config
}

// build makes the verifier of API keys, which reads them from keys, and
// the TLS configuration.
func (c *securityConfig) build(keys auth.KeyStore, logger *slog.Logger) (*security, error) {
	s := &security{}
	if c.Auth == "keys" {
		v, err := auth.NewVerifier(keys, auth.Config{}, logger)
		if err != nil {
			return nil, err
		}
		s.verifier = v
		s.grpcOpts = append(s.grpcOpts, server.WithAuth(auth.NewGRPC(v)))
	} else {
		logger.Warn("serving without authentication (--auth none): whoever reaches the loopback address may read and write every shop")
	}
	if !c.Reflection {
		s.grpcOpts = append(s.grpcOpts, server.WithoutReflection())
	}
	if c.TLSCert == "" {
		return s, nil
	}
	reloader, err := certs.NewReloader(c.TLSCert, c.TLSKey, logger)
	if err != nil {
		return nil, fmt.Errorf("%w: --tls-cert / --tls-key: %v", errUsage, err)
	}
	grpcTLS, err := certs.ServerConfig(reloader, c.TLSClientCA)
	if err != nil {
		return nil, fmt.Errorf("%w: --tls-client-ca: %v", errUsage, err)
	}
	s.grpcOpts = append(s.grpcOpts, grpc.Creds(credentials.NewTLS(grpcTLS)))
	// Browsers post pixel events; they present no client certificates.
	if s.httpTLS, err = certs.ServerConfig(reloader, ""); err != nil {
		return nil, err
	}
	s.httpTLS.NextProtos = []string{"h2", "http/1.1"}
	return s, nil
}

// registerPprof serves the runtime profiles under /debug/pprof/. The
// command line (/debug/pprof/cmdline) is left out: it holds the flags,
// and with them any password given in --database-url or --redis-url.
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/cmdline", http.NotFound)
}

// clientTLS is how a client command (export) secures its connection.
type clientTLS struct {
	CA, Cert, Key, ServerName string
}

func (c *clientTLS) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.CA, "tls-ca", envString("FEATURESTORE_TLS_CA", ""),
		"PEM certificates of the authorities that signed the server's certificate: connect over TLS (env FEATURESTORE_TLS_CA)")
	fs.StringVar(&c.Cert, "tls-cert", envString("FEATURESTORE_TLS_CLIENT_CERT", ""), "with --tls-ca: PEM client certificate, for a server that requires one (env FEATURESTORE_TLS_CLIENT_CERT)")
	fs.StringVar(&c.Key, "tls-key", envString("FEATURESTORE_TLS_CLIENT_KEY", ""), "PEM private key of --tls-cert (env FEATURESTORE_TLS_CLIENT_KEY)")
	fs.StringVar(&c.ServerName, "tls-server-name", "", "with --tls-ca: the name the server's certificate must have (default: the host of --addr)")
}

// credentials returns the transport credentials: TLS when --tls-ca is
// given, else plaintext.
func (c *clientTLS) credentials() (credentials.TransportCredentials, error) {
	if c.CA == "" {
		if c.Cert != "" || c.Key != "" || c.ServerName != "" {
			return nil, fmt.Errorf("%w: --tls-cert, --tls-key and --tls-server-name need --tls-ca", errUsage)
		}
		return insecure.NewCredentials(), nil
	}
	pool, err := certs.LoadCAs(c.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: --tls-ca: %v", errUsage, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: c.ServerName}
	if (c.Cert == "") != (c.Key == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: --tls-cert / --tls-key: %v", errUsage, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}
