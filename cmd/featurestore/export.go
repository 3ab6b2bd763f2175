package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/server"
)

// exportConfig is every setting of the export command.
type exportConfig struct {
	Addr         string
	Out          string
	Format       export.Format
	Scope        export.Scope
	Resume       bool
	BatchSize    int
	RowGroupRows int
	Retries      int
	// APIKey is sent with every call; TLS, when set, secures the
	// connection.
	APIKey string
	TLS    clientTLS
	// AsOf, when set, exports features computed at that instant from the
	// events (point-in-time training data) instead of the stored rows.
	AsOf *time.Time

	// The text of the flags that validate parses into Format, Scope and AsOf.
	format, updatedSince, customers, asOf string
}

func (c *exportConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", envString("FEATURESTORE_ADDR", "127.0.0.1:50051"), "address of the featurestore server (env FEATURESTORE_ADDR)")
	fs.StringVar(&c.Scope.ShopID, "shop", "", "shop to export (required)")
	fs.StringVar(&c.Out, "out", "", "file to write (required); an unfinished export keeps its state in FILE.export-state")
	fs.StringVar(&c.format, "format", "", "csv, jsonl or parquet (default: from the extension of --out)")
	fs.BoolVar(&c.Resume, "resume", false, "continue the unfinished export at --out after its last checkpoint, with the same shop and filters")
	fs.StringVar(&c.updatedSince, "updated-since", "", "export only rows computed at or after this RFC 3339 instant")
	fs.StringVar(&c.customers, "customers", "", "comma-separated customer ids to export (default: all)")
	fs.StringVar(&c.asOf, "as-of", "", "export the features as computed at this RFC 3339 instant, straight from the events, instead of the stored rows (point-in-time training data); give it again with --resume")
	fs.IntVar(&c.BatchSize, "batch-size", 5000, "rows per message from the server, 1 to 10000")
	fs.IntVar(&c.RowGroupRows, "row-group-rows", 100_000, "rows per Parquet row group; a resumed Parquet export fetches at most this many rows again")
	fs.IntVar(&c.Retries, "retries", 8, "how often in a row to reconnect and continue when the server becomes unavailable or is busy")
	fs.StringVar(&c.APIKey, "api-key", envString("FEATURESTORE_API_KEY", ""), "API key with the export scope for the shop (env FEATURESTORE_API_KEY)")
	c.TLS.flags(fs)
}

// validate checks the settings, naming the first bad one, and parses the
// flags that need it.
func (c *exportConfig) validate() error {
	switch {
	case c.Scope.ShopID == "":
		return fmt.Errorf("%w: --shop is required", errUsage)
	case c.Out == "":
		return fmt.Errorf("%w: --out is required", errUsage)
	case c.BatchSize < 1 || c.BatchSize > 10_000:
		return fmt.Errorf("%w: --batch-size must be 1 to 10000, not %d", errUsage, c.BatchSize)
	case c.RowGroupRows < 1:
		return fmt.Errorf("%w: --row-group-rows must be positive", errUsage)
	case c.Retries < 0:
		return fmt.Errorf("%w: --retries must not be negative", errUsage)
	}
	format := c.format
	if format == "" {
		format = strings.TrimPrefix(filepath.Ext(c.Out), ".")
		if format == "ndjson" {
			format = string(export.JSONL)
		}
	}
	var err error
	if c.Format, err = export.ParseFormat(format); err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	if c.updatedSince != "" {
		t, err := time.Parse(time.RFC3339Nano, c.updatedSince)
		if err != nil {
			return fmt.Errorf("%w: --updated-since %q is not an RFC 3339 time such as 2025-06-01T00:00:00Z", errUsage, c.updatedSince)
		}
		c.Scope.UpdatedSince = &t
	}
	if c.customers != "" {
		c.Scope.CustomerIDs = splitList(c.customers)
	}
	if c.asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, c.asOf)
		if err != nil {
			return fmt.Errorf("%w: --as-of %q is not an RFC 3339 time such as 2025-06-01T00:00:00Z", errUsage, c.asOf)
		}
		if c.Scope.UpdatedSince != nil {
			return fmt.Errorf("%w: --updated-since selects stored rows; it does not go with --as-of", errUsage)
		}
		c.AsOf = &t
	}
	return nil
}

func runExport(ctx context.Context, args []string) error {
	var cfg exportConfig
	fs := newFlagSet("export", "--shop ID --out FILE [--format csv|jsonl|parquet] [--resume] [flags]")
	cfg.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	creds, err := cfg.TLS.credentials()
	if err != nil {
		return err
	}
	if cfg.APIKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cfg.APIKey)
	}
	conn, err := grpc.NewClient(cfg.Addr, grpc.WithTransportCredentials(creds),
		// A batch of 10,000 rows with long ids exceeds gRPC's default 4 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return fmt.Errorf("%w: --addr: %v", errUsage, err)
	}
	defer conn.Close()

	opts := export.Options{Format: cfg.Format, Scope: cfg.Scope, RowGroupRows: cfg.RowGroupRows}
	open := export.Create
	if cfg.Resume {
		open = export.Resume
	}
	file, err := open(cfg.Out, opts)
	if err != nil {
		return err
	}
	e := &exporter{cfg: cfg, client: featurestorev1.NewFeatureStoreServiceClient(conn), file: file, start: time.Now(), resumedRows: file.Rows()}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		e.progress = os.Stderr
	}
	if err := e.run(ctx); err != nil {
		e.clearProgress()
		if file.Rows() == 0 {
			return errors.Join(fmt.Errorf("export to %s: %w", cfg.Out, err), file.Discard())
		}
		return errors.Join(fmt.Errorf("export to %s stopped after %d rows (run the same command with --resume to continue): %w", cfg.Out, file.Rows(), err), file.Close())
	}
	if err := file.Finish(); err != nil {
		return fmt.Errorf("finish %s: %w", cfg.Out, err)
	}
	e.clearProgress()
	fmt.Printf("exported %d rows of shop %s to %s (%s) in %s", file.Rows(), cfg.Scope.ShopID, cfg.Out, cfg.Format, time.Since(e.start).Round(time.Millisecond))
	if e.resumedRows > 0 {
		fmt.Printf(", %d of them before the resume", e.resumedRows)
	}
	fmt.Println()
	return nil
}

// exporter streams one export into its file.
type exporter struct {
	cfg         exportConfig
	client      featurestorev1.FeatureStoreServiceClient
	file        *export.File
	start       time.Time
	resumedRows int64
	progress    io.Writer // nil: no progress line
	printed     time.Time
}

// run streams the rest of the export into the file, reconnecting with the
// file's resume token when the server becomes unavailable (a restart, a
// network cut) or is busy (see retryable), up to cfg.Retries times in a
// row.
func (e *exporter) run(ctx context.Context) error {
	if e.file.Complete() {
		return nil
	}
	backoff := 250 * time.Millisecond
	for failures := 0; ; failures++ {
		before := e.file.Rows()
		err := e.stream(ctx)
		if err == nil {
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		if e.file.Rows() > before {
			failures, backoff = 0, 250*time.Millisecond
		}
		if failures >= e.cfg.Retries {
			return fmt.Errorf("gave up after %d retries: %w", failures, err)
		}
		e.clearProgress()
		fmt.Fprintf(os.Stderr, "featurestore: %s (%v); continuing after row %d in %s\n", retryReason(err), status.Convert(err).Message(), e.file.Rows(), backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// retryable reports whether err ends a call that the same request,
// resumed from the file's token, may continue: the server is unavailable,
// already serves its limit of streams, or cancelled this call while the
// export did not read (a suspended process, a stalled disk).
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.ResourceExhausted, codes.Aborted:
		reason := errorReason(err)
		return reason == server.ReasonStreamsExhausted || reason == server.ReasonStreamStalled
	}
	return false
}

// retryReason says why a retryable error happened.
func retryReason(err error) string {
	switch errorReason(err) {
	case server.ReasonStreamsExhausted:
		return "the server is busy"
	case server.ReasonStreamStalled:
		return "the server cancelled the stream"
	}
	return "the server is unavailable"
}

// errorReason returns the reason of err's google.rpc.ErrorInfo in the
// service's domain, if any.
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == server.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// stream makes one StreamFeatures call from the file's token and writes
// its batches.
func (e *exporter) stream(ctx context.Context) error {
	req := &featurestorev1.StreamFeaturesRequest{
		ShopId:      e.cfg.Scope.ShopID,
		BatchSize:   int32(e.cfg.BatchSize),
		ResumeToken: e.file.Token(),
		CustomerIds: e.cfg.Scope.CustomerIDs,
	}
	if t := e.cfg.Scope.UpdatedSince; t != nil {
		req.UpdatedSince = timestamppb.New(*t)
	}
	if t := e.cfg.AsOf; t != nil {
		req.Compute, req.AsOf = true, timestamppb.New(*t)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.client.StreamFeatures(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if status.Code(err) == codes.NotFound {
			// The server names the unknown shop; the gRPC wrapping adds
			// nothing for the reader.
			return fmt.Errorf("%s (check --shop)", status.Convert(err).Message())
		}
		if err != nil {
			return err
		}
		if err := e.file.Write(msg.GetRecords(), msg.GetResumeToken()); err != nil {
			return err
		}
		e.printProgress()
	}
}

// printProgress rewrites the progress line, at most five times a second.
func (e *exporter) printProgress() {
	if e.progress == nil || time.Since(e.printed) < 200*time.Millisecond {
		return
	}
	e.printed = time.Now()
	elapsed := time.Since(e.start)
	rate := float64(e.file.Rows()-e.resumedRows) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(e.progress, "\r\033[K%s  exporting shop %s: %d rows (%.0f rows/s)", spinner(elapsed), e.cfg.Scope.ShopID, e.file.Rows(), rate)
}

func (e *exporter) clearProgress() {
	if e.progress != nil {
		fmt.Fprint(e.progress, "\r\033[K")
	}
}
