package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// reasonOf returns the reason of err's google.rpc.ErrorInfo, if any.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// FuzzDecodeRequest checks that any bytes decode as protobuf does or are
// answered INVALID_ARGUMENT with the reason BAD_REQUEST, and that a string that is not UTF-8 is always
// found and named.
func FuzzDecodeRequest(f *testing.F) {
	valid, err := proto.Marshal(&featurestorev1.IngestInteractionsRequest{Interactions: []*featurestorev1.Interaction{
		{Id: "a", ShopId: "s", EventType: "page_viewed", CreatedAt: timestamppb.Now()},
		{Id: "b", ShopId: "s", CustomerId: proto.String("c"), EventType: "product_viewed"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 0xff})
	f.Add([]byte{0x0a, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got featurestorev1.IngestInteractionsRequest
		fr := &frame{buf: mem.SliceBuffer(b)}
		err := toStatus(context.Background(), slog.New(slog.DiscardHandler), fr.decode(&got))
		var want featurestorev1.IngestInteractionsRequest
		wantErr := proto.Unmarshal(b, &want)
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("valid bytes answered %v", err)
		case wantErr == nil && !proto.Equal(&got, &want):
			t.Fatalf("decoded %v, want %v", &got, &want)
		case wantErr != nil && status.Code(err) != codes.InvalidArgument:
			t.Fatalf("invalid bytes (%v) answered %v, want INVALID_ARGUMENT", wantErr, err)
		case wantErr != nil && reasonOf(err) != ReasonBadRequest:
			t.Fatalf("invalid bytes (%v) answered the reason %q, want %s", wantErr, reasonOf(err), ReasonBadRequest)
		case wantErr != nil && strings.Contains(wantErr.Error(), "UTF-8") && !strings.Contains(status.Convert(err).Message(), ": is not valid UTF-8"):
			t.Fatalf("a string that is not UTF-8 answered %q, want the field named", status.Convert(err).Message())
		}
	})
}
