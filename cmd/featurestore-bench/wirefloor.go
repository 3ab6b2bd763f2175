package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

// The floor of an online read is what gRPC alone takes to deliver its
// answer: a bare server of the same method that answers every call with
// the very bytes featurestore answered, to a client that decodes neither
// (the bytes are neither built nor parsed). It runs as a process of its
// own, as the server under test does.

// getFeaturesMethod is the full name of the method the floor serves.
const getFeaturesMethod = "/featurestore.v1.FeatureStoreService/GetFeatures"

// floorEnv names, in the environment of a process of this command, the
// file of the answer it is to serve as a floor server, and floorAddrEnv
// the address to listen on.
const (
	floorEnv     = "FEATURESTORE_BENCH_FLOOR_ANSWER"
	floorAddrEnv = "FEATURESTORE_BENCH_FLOOR_ADDR"
)

// rawFrame is a message as its wire bytes: rawCodec sends b as it is, and
// receives into it without decoding (keeping the bytes only when keep).
type rawFrame struct {
	b    []byte
	n    int
	keep bool
}

// rawCodec passes rawFrames through untouched and encodes anything else
// as protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *rawFrame:
		return m.b, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("rawCodec cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *rawFrame:
		m.n = len(data)
		if m.keep {
			m.b = append(m.b[:0], data...)
		}
		return nil
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("rawCodec cannot unmarshal into %T", v)
}

func (rawCodec) Name() string { return "proto" }

// rawCall returns a call of GetFeatures over conn with req encoded once,
// whose answer is received undecoded; it fails unless the answer has
// wantLen bytes (when wantLen > 0).
func rawCall(ctx context.Context, conn *grpc.ClientConn, req proto.Message, wantLen int) (func() error, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	in := &rawFrame{b: b}
	return func() error {
		var out rawFrame
		if err := conn.Invoke(ctx, getFeaturesMethod, in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
			return err
		}
		if wantLen > 0 && out.n != wantLen {
			return fmt.Errorf("answer of %d bytes, want %d", out.n, wantLen)
		}
		return nil
	}, nil
}

// rawAnswer returns the wire bytes of one answer to req.
func rawAnswer(ctx context.Context, conn *grpc.ClientConn, req proto.Message) ([]byte, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	out := &rawFrame{keep: true}
	if err := conn.Invoke(ctx, getFeaturesMethod, &rawFrame{b: b}, out, grpc.ForceCodec(rawCodec{})); err != nil {
		return nil, err
	}
	return out.b, nil
}

// serveFloor serves answer to every GetFeatures call at addr until the
// process is stopped. The request is received but not decoded.
func serveFloor(addr string, answer []byte) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	resp := &rawFrame{b: answer}
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "featurestore.v1.FeatureStoreService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "GetFeatures", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&rawFrame{}); err != nil {
				return nil, err
			}
			return resp, nil
		}}},
	}, struct{}{})
	return srv.Serve(lis)
}

// floorProcess is a floor server run as a child process.
type floorProcess struct {
	cmd  *exec.Cmd
	conn *grpc.ClientConn
	file string
}

// startFloor runs this command as a floor server of answer and waits until
// it answers.
func startFloor(ctx context.Context, answer []byte) (*floorProcess, error) {
	f, err := os.CreateTemp("", "featurestore-bench-floor-*")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(answer); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &floorProcess{cmd: exec.Command(self), file: f.Name()}
	p.cmd.Env = append(os.Environ(), floorEnv+"="+f.Name(), floorAddrEnv+"="+addr)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	p.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		p.stop()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := rawAnswer(ctx, p.conn, &featurestorev1.GetFeaturesRequest{})
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("floor server at %s did not answer: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *floorProcess) stop() {
	if p.conn != nil {
		p.conn.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	os.Remove(p.file)
}

// runFloorIfAsked serves as a floor server when the environment says so,
// and reports whether it did (it returns only on failure).
func runFloorIfAsked() (bool, error) {
	file := os.Getenv(floorEnv)
	if file == "" {
		return false, nil
	}
	answer, err := os.ReadFile(file)
	if err != nil {
		return true, err
	}
	addr := os.Getenv(floorAddrEnv)
	if addr == "" {
		return true, errors.New(floorAddrEnv + " is not set")
	}
	return true, serveFloor(addr, answer)
}
