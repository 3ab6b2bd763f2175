package server

import (
	"context"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec that codec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/featurestore/featurestore/internal/invalid"
)

// A request that is not valid protobuf is the caller's error, but gRPC
// answers any error of its codec with INTERNAL ("failed to unmarshal").
// So the server's codec does not decode requests itself: it hands the
// handlers the raw bytes (a *frame), and every method's handler, wrapped
// by checkedService, decodes them and answers INVALID_ARGUMENT, naming the
// field whose string is not UTF-8 when that is the fault.

// codec is the server's codec: protobuf, except that a *frame receives a
// request's bytes undecoded.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

// Name is protobuf's, so that the codec serves application/grpc+proto.
func (c codec) Name() string { return c.proto.Name() }

func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

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

// decodeRequest receives a message with recv and decodes it into v, a
// proto.Message, answering INVALID_ARGUMENT when its bytes are not one.
func decodeRequest(recv func(any) error, v any) error {
	var f frame
	if err := recv(&f); err != nil {
		return err
	}
	defer f.buf.Free()
	m, ok := v.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "cannot decode a request into %T", v)
	}
	b := f.buf.ReadOnlyData()
	if err := proto.Unmarshal(b, m); err != nil {
		md := m.ProtoReflect().Descriptor()
		if path, ok := invalidUTF8Field(b, md); ok {
			return badRequest(path+": is not valid UTF-8", &invalid.Error{Field: path, Reason: "is not valid UTF-8"})
		}
		return status.Errorf(codes.InvalidArgument, "the request is not a valid %s: %v", md.FullName(), err)
	}
	return nil
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

// checkedStream decodes the requests of a streaming method with
// decodeRequest.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error { return decodeRequest(s.ServerStream.RecvMsg, m) }

// checkedService returns a copy of desc whose methods decode their
// requests with decodeRequest.
func checkedService(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	out := *desc
	out.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		handler := m.Handler
		out.Methods[i] = grpc.MethodDesc{MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				return handler(srv, ctx, func(v any) error { return decodeRequest(dec, v) }, interceptor)
			}}
	}
	out.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, s := range desc.Streams {
		handler := s.Handler
		out.Streams[i] = s
		out.Streams[i].Handler = func(srv any, stream grpc.ServerStream) error {
			return handler(srv, checkedStream{stream})
		}
	}
	return &out
}

// checkedRegistrar registers every service with checkedService, so that
// services registered by other packages (reflection) decode alike.
type checkedRegistrar struct{ *grpc.Server }

func (r checkedRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.Server.RegisterService(checkedService(desc), impl)
}
