package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// ServeGRPC serves srv on the TCP address addr ("127.0.0.1:0" picks a free
// port) until srv is stopped or the test ends, and returns the address it
// listens on. Serving a new server at the address of a stopped one is how
// tests restart a server under its clients.
func ServeGRPC(t testing.TB, srv *grpc.Server, addr string) string {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// ServeBufconn serves srv on an in-memory listener until the test ends and
// returns a client connection to it, closed when the test ends.
func ServeBufconn(t testing.TB, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial the in-memory listener: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DialGRPC returns a plaintext client connection to addr, closed when the
// test ends. It reconnects within milliseconds of a server coming back, not
// after gRPC's default backoff of a second or more.
func DialGRPC(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// StreamAll reads a StreamFeatures call of req to its end and returns its
// messages; on an error it returns the messages received before it.
func StreamAll(ctx context.Context, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.StreamFeaturesRequest, opts ...grpc.CallOption) ([]*featurestorev1.StreamFeaturesResponse, error) {
	stream, err := client.StreamFeatures(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	var out []*featurestorev1.StreamFeaturesResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg)
	}
}
