package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pinger checks that the database answers, on a connection of its own.
// A health check that pinged through a pool would wait behind every call
// queued for a connection, and report a busy server as a dead one; the
// Pinger's only wait is for Postgres itself.
type Pinger struct {
	config *pgx.ConnConfig
	mu     sync.Mutex
	conn   *pgx.Conn // nil until connected, and after a failure
}

// NewPinger returns a Pinger of the database at url, which connects when
// it first pings and again after any failure. Its connection's
// application_name ends in "/health".
func NewPinger(url string) (*Pinger, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	WithApplicationSuffix("health")(cfg)
	return &Pinger{config: cfg.ConnConfig}, nil
}

// Ping connects if need be and makes one round trip, within ctx.
func (p *Pinger) Ping(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, p.config)
		if err != nil {
			return translate(fmt.Errorf("connect to ping: %w", err))
		}
		p.conn = conn
	}
	if err := p.conn.Ping(ctx); err != nil {
		// A connection that failed, or whose ping was cut short, is not
		// trusted again.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = p.conn.Close(closeCtx)
		cancel()
		p.conn = nil
		return translate(fmt.Errorf("ping: %w", err))
	}
	return nil
}

// Close closes the connection, if any.
func (p *Pinger) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close(ctx)
	p.conn = nil
	return err
}
