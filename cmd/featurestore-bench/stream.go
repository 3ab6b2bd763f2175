package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
)

func init() { register("stream", benchStreamSizes) }

// streamShops are the stored shops the stream benchmark exports: synthetic
// rows (store.SeedFeatureRows), written once and kept in the benchmark
// database. Two sizes ten times apart show whether the server's memory
// depends on the shop's size.
var streamShops = []struct {
	id                     string
	customers, perCustomer int
}{
	{"bench-stream-100k", 2_000, 50},
	{"bench-stream-1m", 20_000, 50},
}

type streamResult struct {
	rows      int64
	batchSize int32
	// copy is the floor; decoded is a stream read by a client that decodes
	// every record, received one read by a client that only counts them.
	// Medians over the rounds.
	copy, decoded, received time.Duration
	// serverCPU is the server process' CPU time (user and system) per
	// streamed row while the decoding client read.
	serverCPU time.Duration
	peakRSS   int64
}

// benchStreamSizes exports every stream shop through a server process of its
// own and prints the results side by side.
func benchStreamSizes(ctx context.Context, e env) error {
	var results []streamResult
	for _, s := range streamShops {
		if err := ensureFeatureRows(ctx, e, s.id, s.customers, s.perCustomer); err != nil {
			return fmt.Errorf("%s: %w", s.id, err)
		}
		r, err := benchStream(ctx, e, s.id)
		if err != nil {
			return fmt.Errorf("%s: %w", s.id, err)
		}
		results = append(results, r)
	}
	printStreamResults(results)
	return nil
}

// ensureFeatureRows seeds a stream shop unless an earlier run did.
func ensureFeatureRows(ctx context.Context, e env, shopID string, customers, perCustomer int) error {
	var have int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM interaction_features WHERE shop_id = $1`, shopID).Scan(&have); err != nil {
		return err
	}
	want := int64(customers * perCustomer)
	switch have {
	case want:
		return nil
	case 0:
	default:
		return fmt.Errorf("the shop has %d stored rows, not %d: delete them to have them seeded again", have, want)
	}
	fmt.Fprintf(os.Stderr, "seeding %s (%d stored rows)...\n", shopID, want)
	start := time.Now()
	if _, err := e.st.SeedFeatureRows(ctx, shopID, customers, perCustomer); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded in %s\n", time.Since(start).Round(time.Millisecond))
	// Vacuum so that every round reads all-visible pages the same way.
	_, err := e.pool.Exec(ctx, "VACUUM ANALYZE interaction_features")
	return err
}

// benchStream times StreamFeatures of a whole shop through a server
// process against a COPY of the same statement to a null sink, the rounds
// alternating, and reads the server's peak memory. Each round streams
// twice: to a client that decodes every record, as a training pipeline
// does, and to one that only counts them, which shows what the server
// delivers when the client's decoding does not compete with it and
// Postgres for the same cores.
func benchStream(ctx context.Context, e env, shopID string) (streamResult, error) {
	res := streamResult{batchSize: 1000}
	floor, err := exportFloor(ctx, e.url, shopID)
	if err != nil {
		return res, err
	}
	o := e.opts
	srv, err := startServer(ctx, o.binary, e.url, "")
	if err != nil {
		return res, err
	}
	defer srv.stop()
	client := featurestorev1.NewFeatureStoreServiceClient(srv.conn)
	req := &featurestorev1.StreamFeaturesRequest{ShopId: shopID, BatchSize: res.batchSize}
	var copies, decoded, received, cpus []time.Duration
	for round := range o.rounds {
		start := time.Now()
		rows, err := copyRows(ctx, e.pool, floor, io.Discard)
		if err != nil {
			return res, err
		}
		copies = append(copies, time.Since(start))
		res.rows = rows

		cpuBefore, err := srv.cpuTime()
		if err != nil {
			return res, err
		}
		took, err := timeStream(ctx, client, req, rows, false)
		if err != nil {
			return res, err
		}
		decoded = append(decoded, took)
		cpuAfter, err := srv.cpuTime()
		if err != nil {
			return res, err
		}
		cpus = append(cpus, (cpuAfter-cpuBefore)/time.Duration(rows))

		if took, err = timeStream(ctx, client, req, rows, true); err != nil {
			return res, err
		}
		received = append(received, took)
		fmt.Fprintf(os.Stderr, "  %s round %d: copy %s, stream decoded %s, received %s\n", shopID, round+1,
			copies[round].Round(time.Millisecond), decoded[round].Round(time.Millisecond), received[round].Round(time.Millisecond))
	}
	res.copy, res.decoded, res.received, res.serverCPU = median(copies), median(decoded), median(received), median(cpus)
	res.peakRSS, err = srv.peakRSS()
	return res, err
}

// timeStream reads a StreamFeatures call to its end, decoding every record
// or (countOnly) just counting them, checks that it carried want rows, and
// returns how long it took.
func timeStream(ctx context.Context, client featurestorev1.FeatureStoreServiceClient, req *featurestorev1.StreamFeaturesRequest, want int64, countOnly bool) (time.Duration, error) {
	var n int64
	var opts []grpc.CallOption
	if countOnly {
		opts = append(opts, grpc.ForceCodecV2(recordCounter{records: &n}))
	}
	start := time.Now()
	stream, err := client.StreamFeatures(ctx, req, opts...)
	if err != nil {
		return 0, err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("stream: %w", err)
		}
		n += int64(len(msg.GetRecords()))
	}
	took := time.Since(start)
	if n != want {
		return took, fmt.Errorf("streamed %d rows, the floor copied %d", n, want)
	}
	return took, nil
}

// recordsField is the field number of StreamFeaturesResponse.records.
var recordsField = (&featurestorev1.StreamFeaturesResponse{}).ProtoReflect().Descriptor().Fields().ByName("records").Number()

// recordCounter is a client codec that counts the records of each message
// on the wire instead of decoding them, leaving the message empty.
type recordCounter struct{ records *int64 }

func (recordCounter) Name() string { return "proto" }

func (recordCounter) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (c recordCounter) Unmarshal(data mem.BufferSlice, _ any) error {
	b := data.Materialize()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[n+m:]
		if num == recordsField {
			*c.records++
		}
	}
	return nil
}

func printStreamResults(results []streamResult) {
	fmt.Println("\nStreamFeatures of a whole shop against COPY (same SELECT) TO STDOUT (FORMAT binary) into a null sink")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rows\tbatch\tcopy rows/s\tstream rows/s, decoded\t/ copy\tstream rows/s, received\t/ copy\tserver CPU/row\tserver peak RSS\t")
	for _, r := range results {
		rate := func(d time.Duration) float64 { return float64(r.rows) / d.Seconds() }
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.2fx\t%.0f\t%.2fx\t%s\t%.1f MiB\t\n", r.rows, r.batchSize,
			rate(r.copy), rate(r.decoded), r.copy.Seconds()/r.decoded.Seconds(), rate(r.received), r.copy.Seconds()/r.received.Seconds(),
			r.serverCPU, float64(r.peakRSS)/(1<<20))
	}
	tw.Flush()
}

// cpuTime is the server's CPU time so far, user and system, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func (s *serverProcess) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", s.cmd.Process.Pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", s.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
