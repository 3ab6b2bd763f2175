package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkInterval is how often, at most, a Reloader looks at its files: a
// handshake costs far more than two stats, but a burst of handshakes need
// not repeat them.
const checkInterval = time.Second

// Reloader serves the certificate of a pair of PEM files, loading the pair
// again when either file changes: its modification time, size or identity
// (a new file renamed over the old one, as certificate managers and
// Kubernetes secrets do). A pair that does not load, such as a certificate
// already replaced while its key is not yet, leaves the previous one in
// service until the next look.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	interval          time.Duration
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamps  [2]os.FileInfo
	checked time.Time
	failed  [2]os.FileInfo // the stamps of the last pair that did not load, logged once
}

// NewReloader loads the pair of files, failing when they do not make a
// certificate.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger, interval: checkInterval, now: time.Now}
	stamps, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate %s and key %s: %w", certFile, keyFile, err)
	}
	r.cert, r.stamps, r.checked = &cert, stamps, r.now()
	return r, nil
}

func (r *Reloader) stat() ([2]os.FileInfo, error) {
	var out [2]os.FileInfo
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = fi
	}
	return out, nil
}

func same(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// loaded again first when its files have changed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.interval {
		return r.cert, nil
	}
	r.checked = now
	stamps, err := r.stat()
	if err != nil {
		r.logger.Warn("tls: cannot read the certificate files; serving the loaded certificate", "error", err)
		return r.cert, nil
	}
	if same(stamps[0], r.stamps[0]) && same(stamps[1], r.stamps[1]) {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if !same(stamps[0], r.failed[0]) || !same(stamps[1], r.failed[1]) {
			r.failed = stamps
			r.logger.Warn("tls: the changed certificate files do not load; serving the previous certificate until they do",
				"cert", r.certFile, "key", r.keyFile, "error", err)
		}
		return r.cert, nil
	}
	r.cert, r.stamps = &cert, stamps
	r.logger.Info("tls: loaded the changed certificate", "cert", r.certFile)
	return r.cert, nil
}

// ServerConfig returns a server's TLS configuration serving r's
// certificate. With clientCAFile, clients must present a certificate that
// one of the file's PEM certificates signed (mutual TLS).
func ServerConfig(r *Reloader, clientCAFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if clientCAFile == "" {
		return cfg, nil
	}
	pool, err := LoadCAs(clientCAFile)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// LoadCAs reads the PEM certificates of file into a pool.
func LoadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("tls: " + file + " holds no PEM certificate")
	}
	return pool, nil
}
