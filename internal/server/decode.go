package server

import (
	"context"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec that codec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/invalid"
)

// A request that is not valid protobuf is the caller's error, but gRPC
// answers any error of its codec with INTERNAL ("failed to unmarshal").
// So the server's codec does not decode requests itself: it hands over the
// raw bytes (a *frame), and the interceptor chain decodes them, answering
// INVALID_ARGUMENT (reason BAD_REQUEST), naming the field whose string is
// not UTF-8 when that is the fault.
//
// The chain decodes, rather than the codec, so that a call is checked in
// this order: authentication, from the metadata alone, before a byte of
// the request is read, so that a caller without a valid key learns nothing
// else; then decoding; then authorization, which needs the decoded
// request's shop; then the handler. For a streaming call, decodeStream
// wraps the stream so that each RecvMsg returns a decoded message to the
// interceptors inside it. A unary call's request is received before any
// interceptor runs, so checkedService holds its bytes in the call's
// context (pendingRequest) for decodeUnary to decode at its place in the
// chain.

// codec is the server's codec: protobuf, except that a *frame receives a
// request's bytes undecoded.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

// Name is protobuf's, so that the codec serves application/grpc+proto.
func (c codec) Name() string { return c.proto.Name() }

// Marshal encodes v with protobuf, except an answer of GetFeatures
// written in wire format (protoconv.ResponseFromWire): those bytes are its
// encoding, and are handed to gRPC as they are, rather than copied, in a
// buffer that goes back to answerBuffers once sent.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := wireAnswer(v); ok {
		return mem.BufferSlice{mem.NewBuffer(&b, answerBuffers)}, nil
	}
	return c.proto.Marshal(v)
}

// wireAnswer returns the bytes of v when v is a GetFeaturesResponse with
// no known field set, which protobuf would encode as exactly its unknown
// fields. gRPC encodes a unary response once, in SendMsg, and nothing reads
// it after that, so its bytes may go back to the pool once sent. Only
// protoconv.ResponseFromWire makes such a message, always of a buffer of
// its own.
func wireAnswer(v any) ([]byte, bool) {
	m, ok := v.(*featurestorev1.GetFeaturesResponse)
	if !ok {
		return nil, false
	}
	r := m.ProtoReflect()
	unknown := r.GetUnknown()
	if len(unknown) == 0 {
		return nil, false
	}
	known := false
	r.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		known = true
		return false
	})
	return unknown, !known
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		// A reference to the bytes, not a copy, as protobuf's codec takes.
		f.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// frame holds one received message's bytes until it is decoded.
type frame struct{ buf mem.Buffer }

// decode decodes the frame into v, a proto.Message, and frees its bytes.
// Bytes that are not a valid message are a *malformedRequestError, or an
// *invalid.Error naming the string field that is not UTF-8.
func (f *frame) decode(v any) error {
	defer f.free()
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("decode a request into %T, which is not a protobuf message", v)
	}
	var b []byte
	if f.buf != nil {
		b = f.buf.ReadOnlyData()
	}
	if err := proto.Unmarshal(b, m); err != nil {
		md := m.ProtoReflect().Descriptor()
		if path, ok := invalidUTF8Field(b, md); ok {
			return &invalid.Error{Field: path, Reason: "is not valid UTF-8"}
		}
		return &malformedRequestError{message: md.FullName(), err: err}
	}
	return nil
}

// free returns the frame's bytes to their pool, once.
func (f *frame) free() {
	if f.buf != nil {
		f.buf.Free()
		f.buf = nil
	}
}

// malformedRequestError is a request whose bytes are not a valid message
// of its type.
type malformedRequestError struct {
	message protoreflect.FullName
	err     error
}

func (e *malformedRequestError) Error() string {
	return fmt.Sprintf("the request is not a valid %s: %v", e.message, e.err)
}

// invalidUTF8Field returns the path (as "interactions[3].id") of the first
// string field of the message md encoded in b whose value is not UTF-8.
// Protobuf's error does not name it; this reads the bytes again, on the
// error path only.
func invalidUTF8Field(b []byte, md protoreflect.MessageDescriptor) (string, bool) {
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if typ != protowire.BytesType || fd == nil {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		name := string(fd.Name())
		if fd.IsList() {
			name = fmt.Sprintf("%s[%d]", name, seen[num])
			seen[num]++
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name, true
			}
		case protoreflect.MessageKind:
			if path, ok := invalidUTF8Field(v, fd.Message()); ok {
				return name + "." + path, true
			}
		}
	}
	return "", false
}

// pendingRequest is the context key of a unary call's *frame, received and
// not yet decoded.
type pendingRequest struct{}

// decodeUnary decodes a unary call's request, held by checkedService, into
// the request message the interceptors and the handler get. Its errors are
// statuses, mapped by toStatus.
func decodeUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if f, ok := ctx.Value(pendingRequest{}).(*frame); ok {
			if err := f.decode(req); err != nil {
				return nil, toStatus(ctx, logger, err)
			}
		}
		return handler(ctx, req)
	}
}

// decodeStream makes the RecvMsg of a streaming call, as the interceptors
// inside it and the handler see it, decode the message it receives.
func decodeStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &decodingStream{ServerStream: ss, logger: logger})
	}
}

// decodingStream receives each message as a *frame and decodes it.
type decodingStream struct {
	grpc.ServerStream
	logger *slog.Logger
}

func (s *decodingStream) RecvMsg(m any) error {
	var f frame
	if err := s.ServerStream.RecvMsg(&f); err != nil {
		// io.EOF, the end of the client's messages, as it is.
		return err
	}
	if err := f.decode(m); err != nil {
		return toStatus(s.Context(), s.logger, err)
	}
	return nil
}

// checkedService returns a copy of desc whose unary methods receive their
// request as a *frame and leave it, in the context, to decodeUnary; a
// method called without interceptors decodes it at once. Streaming
// methods decode in decodeStream.
func checkedService(desc *grpc.ServiceDesc, logger *slog.Logger) *grpc.ServiceDesc {
	out := *desc
	out.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		handler := m.Handler
		out.Methods[i] = grpc.MethodDesc{MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				f := &frame{}
				if err := dec(f); err != nil {
					return nil, err
				}
				defer f.free()
				if interceptor == nil {
					return handler(srv, ctx, func(v any) error {
						if err := f.decode(v); err != nil {
							return toStatus(ctx, logger, err)
						}
						return nil
					}, nil)
				}
				// The generated handler passes the message it made to the
				// interceptors; decodeUnary fills it in.
				return handler(srv, context.WithValue(ctx, pendingRequest{}, f), func(any) error { return nil }, interceptor)
			}}
	}
	return &out
}

// checkedRegistrar registers every service with checkedService, so that
// services registered by other packages (reflection) decode alike.
type checkedRegistrar struct {
	*grpc.Server
	logger *slog.Logger
}

func (r checkedRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.Server.RegisterService(checkedService(desc, r.logger), impl)
}
