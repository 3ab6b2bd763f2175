package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// rawCodec sends []byte as they are, so a test can put any bytes on the
// wire, and decodes answers as protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec sends []byte, not %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

// field appends field num holding the length-delimited value v.
func field(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// TestBadRequestBytes sends requests that are not valid protobuf, or whose
// strings are not valid UTF-8, as raw bytes over a real connection to every
// kind of method, and checks they are answered INVALID_ARGUMENT (reason
// BAD_REQUEST) naming what is wrong, while valid bytes are served: on a
// server without authentication, and on one with it, by a caller whose
// key covers the shop.
func TestBadRequestBytes(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(context.Background(), "shop", 2, 2); err != nil {
		t.Fatal(err)
	}
	engine := newEngine(t, st, compute.DefaultConfig())
	svc := newService(t, server.Config{Computer: engine, Rows: engine, Reader: st, Exporter: st, Ingester: ingest.NewWriter(st)})
	open := testenv.DialGRPC(t, testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0"))
	withAuth := startAuthServer(t, st, time.Second, io.Discard)
	all := auth.ScopeRead | auth.ScopeExport | auth.ScopeCompute | auth.ScopeIngest
	secret := newKey(t, st, "shop", []string{"shop"}, all, nil)

	const service = "/featurestore.v1.FeatureStoreService/"
	bad := []byte("caf\xe9")
	// A valid interaction but for one field; field numbers are the proto's.
	interaction := func(id []byte) []byte {
		var b []byte
		b = field(b, 1, id)
		b = field(b, 2, []byte("shop"))
		b = field(b, 5, []byte("page_viewed"))
		return field(b, 10, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1748736000))
	}
	for _, srv := range []struct {
		name   string
		conn   *grpc.ClientConn
		secret string
	}{{"without auth", open, ""}, {"with a key", withAuth, secret}} {
		for _, tc := range []struct {
			name   string
			method string
			stream bool
			body   []byte
			code   codes.Code
			// message must appear in the answer's message; field, when set, is
			// the BadRequest field violation.
			message, field string
		}{
			{name: "truncated", method: service + "GetFeatures", body: []byte{0x0a, 0x05, 's'},
				code: codes.InvalidArgument, message: "not a valid featurestore.v1.GetFeaturesRequest"},
			{name: "wrong wire type", method: service + "GetFeatures", body: protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.Fixed32Type), 0)[:2],
				code: codes.InvalidArgument, message: "not a valid featurestore.v1.GetFeaturesRequest"},
			{name: "shop_id not UTF-8", method: service + "GetFeatures", body: field(nil, 1, bad),
				code: codes.InvalidArgument, message: "shop_id: is not valid UTF-8", field: "shop_id"},
			{name: "third product id not UTF-8", method: service + "GetFeatures",
				body: field(field(field(field(field(nil, 1, []byte("shop")), 2, []byte("c")), 3, []byte("p1")), 3, []byte("p2")), 3, bad),
				code: codes.InvalidArgument, message: "product_ids[2]: is not valid UTF-8", field: "product_ids[2]"},
			{name: "nested id not UTF-8", method: service + "IngestInteractions",
				body: field(field(nil, 1, interaction([]byte("ok"))), 1, interaction(bad)),
				code: codes.InvalidArgument, message: "interactions[1].id: is not valid UTF-8", field: "interactions[1].id"},
			{name: "garbage to a unary method without fields", method: service + "DescribeFeatures", body: []byte{0xff, 0xff, 0xff},
				code: codes.InvalidArgument, message: "not a valid featurestore.v1.DescribeFeaturesRequest"},
			{name: "stream request not UTF-8", method: service + "StreamFeatures", stream: true, body: field(field(nil, 1, []byte("shop")), 5, bad),
				code: codes.InvalidArgument, message: "customer_ids[0]: is not valid UTF-8", field: "customer_ids[0]"},
			{name: "stream request truncated", method: service + "ComputeFeatures", stream: true, body: []byte{0x0a},
				code: codes.InvalidArgument, message: "not a valid featurestore.v1.ComputeFeaturesRequest"},
			{name: "health check not UTF-8", method: "/grpc.health.v1.Health/Check", body: field(nil, 1, bad),
				code: codes.InvalidArgument, message: "service: is not valid UTF-8", field: "service"},
			// Valid bytes reach the handlers.
			{name: "valid describe", method: service + "DescribeFeatures", body: nil, code: codes.OK},
			{name: "valid read", method: service + "GetFeatures", body: field(field(field(nil, 1, []byte("shop")), 2, []byte("c")), 3, []byte("p")), code: codes.OK},
			{name: "valid ingest", method: service + "IngestInteractions", body: field(nil, 1, interaction([]byte("ok"))), code: codes.OK},
			{name: "valid stream", method: service + "StreamFeatures", stream: true, body: field(nil, 1, []byte("shop")), code: codes.OK},
			{name: "handler's own check", method: service + "GetFeatures", body: field(nil, 1, []byte("shop")),
				code: codes.InvalidArgument, message: "customer_id", field: "customer_id"},
		} {
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				err := invokeRaw(withKey(context.Background(), srv.secret), srv.conn, tc.method, tc.stream, tc.body)
				st := status.Convert(err)
				if st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
					t.Fatalf("answered %v %q, want %v mentioning %q", st.Code(), st.Message(), tc.code, tc.message)
				}
				if tc.code == codes.OK {
					return
				}
				if info := errorInfo(err); info.GetReason() != server.ReasonBadRequest || info.GetDomain() != server.ErrorDomain {
					t.Errorf("ErrorInfo %v, want reason %s in domain %s", info, server.ReasonBadRequest, server.ErrorDomain)
				}
				if got := fieldViolations(err); tc.field != "" && (len(got) != 1 || got[0] != tc.field) {
					t.Errorf("field violations %v, want [%s]", got, tc.field)
				}
			})
		}
	}
	if got := testenv.Interactions(t, pool, "true"); len(got) != 1 {
		t.Errorf("%d interactions stored, want the valid one only", len(got))
	}
	if _, err := healthpb.NewHealthClient(open).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a valid health check: %v", err)
	}
	// Reflection, a bidirectional stream, decodes its requests the same way
	// and still ends when the client closes its side.
	rc, err := reflectionpb.NewServerReflectionClient(open).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := rc.Recv()
	if err != nil || !strings.Contains(res.GetListServicesResponse().String(), "featurestore.v1.FeatureStoreService") {
		t.Fatalf("reflection listed %v, %v", res, err)
	}
	if err := rc.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("reflection after the client closed: %v, want the end of the stream", err)
	}
}

// TestAuthBeforeDecoding sends requests, valid or not, to a unary and a
// streaming method of a server with API keys, with no key, a key of
// another shop and a key of the shop, and checks the order in which a
// call is checked: a caller without a key is UNAUTHENTICATED whatever it
// sent; bytes that are not a request are INVALID_ARGUMENT before the
// request's shop is authorized, since authorization needs the decoded
// shop; a valid request of a shop the key does not cover is
// PERMISSION_DENIED; and nothing reaches a handler that should not.
func TestAuthBeforeDecoding(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	st := store.New(pool)
	if _, err := st.SeedFeatureRows(context.Background(), "shop", 2, 2); err != nil {
		t.Fatal(err)
	}
	conn := startAuthServer(t, st, time.Second, io.Discard)
	all := auth.ScopeRead | auth.ScopeExport | auth.ScopeCompute | auth.ScopeIngest
	keys := map[string]string{
		"no key":     "",
		"other shop": newKey(t, st, "other", []string{"other"}, all, nil),
		"the shop":   newKey(t, st, "shop", []string{"shop"}, all, nil),
	}
	const service = "/featurestore.v1.FeatureStoreService/"
	get := field(field(field(nil, 1, []byte("shop")), 2, []byte("c")), 3, []byte("p"))
	bodies := []struct {
		name   string
		method string
		stream bool
		body   []byte
	}{
		{"GetFeatures garbage", service + "GetFeatures", false, []byte{0xff, 0xff}},
		{"GetFeatures shop_id not UTF-8", service + "GetFeatures", false, field(nil, 1, []byte("sh\xffop"))},
		{"GetFeatures valid", service + "GetFeatures", false, get},
		{"StreamFeatures garbage", service + "StreamFeatures", true, []byte{0x0a}},
		{"StreamFeatures shop_id not UTF-8", service + "StreamFeatures", true, field(nil, 1, []byte("sh\xffop"))},
		{"StreamFeatures valid", service + "StreamFeatures", true, field(nil, 1, []byte("shop"))},
	}
	for _, key := range []string{"no key", "other shop", "the shop"} {
		for _, b := range bodies {
			t.Run(key+"/"+b.name, func(t *testing.T) {
				valid := strings.HasSuffix(b.name, "valid")
				want, reason := codes.InvalidArgument, server.ReasonBadRequest
				switch {
				case key == "no key":
					want, reason = codes.Unauthenticated, string(auth.ReasonKeyMissing)
				case valid && key == "other shop":
					want, reason = codes.PermissionDenied, string(auth.ReasonShopDenied)
				case valid:
					want, reason = codes.OK, ""
				}
				err := invokeRaw(withKey(context.Background(), keys[key]), conn, b.method, b.stream, b.body)
				if status.Code(err) != want || errorInfo(err).GetReason() != reason {
					t.Fatalf("answered %v (reason %q), want %s (reason %q)", err, errorInfo(err).GetReason(), want, reason)
				}
			})
		}
	}
	// Health needs no key: its bad bytes are answered as such.
	err := invokeRaw(context.Background(), conn, "/grpc.health.v1.Health/Check", false, []byte{0xff})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("health with bad bytes and no key: %v, want INVALID_ARGUMENT", err)
	}
}

// invokeRaw sends body as the one request of method, unary or
// server-streaming, and reads the answers to the end; they are not
// decoded.
func invokeRaw(ctx context.Context, conn *grpc.ClientConn, method string, stream bool, body []byte) error {
	if stream {
		return invokeStream(ctx, conn, method, body)
	}
	return conn.Invoke(ctx, method, body, &featurestorev1.DescribeFeaturesResponse{}, grpc.ForceCodecV2(rawCodec{}))
}

// invokeStream sends body as the one request of a server-streaming method
// and reads the answers to the end; the messages are not decoded.
func invokeStream(ctx context.Context, conn *grpc.ClientConn, method string, body []byte) error {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	if err := stream.SendMsg(body); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	for {
		var msg featurestorev1.StreamFeaturesResponse
		err := stream.RecvMsg(&msg)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
