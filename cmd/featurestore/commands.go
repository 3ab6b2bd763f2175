package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run the gRPC server (migrates the database first unless --migrate=false)", runServe},
	{"migrate", "apply the database migrations", runMigrate},
	{"compute", "compute and store one shop's features", runCompute},
	{"seed-demo", "write a deterministic synthetic demo shop into the database", runSeedDemo},
	{"examples", "print ready-to-paste grpcurl commands for a shop", runExamples},
	{"export", "export a shop's stored features to CSV, JSON lines or Parquet through a server (resumable)", runExport},
	{"keys", "create, list and revoke API keys (keys create --name N --shops S --scopes read,...; keys list; keys revoke N)", runKeys},
}

// errUsage marks errors that are the user's invocation, answered with exit
// code 2 like the flag package does.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		usage(os.Stderr)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "featurestore: a gRPC feature store for e-commerce recommendation.")
	fmt.Fprintln(w, "\nUsage: featurestore COMMAND [flags]   (featurestore COMMAND --help lists a command's flags)")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nEvery flag can also be set by the environment variable named in its help.")
}

// newFlagSet returns a flag set for a subcommand whose usage names the
// command and lists its flags.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: featurestore %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects positional arguments, which no
// command takes.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see featurestore %s --help)", errUsage, strings.Join(fs.Args(), " "), fs.Name())
	}
	return nil
}

// splitList splits a comma-separated flag value, trimming spaces and
// dropping empty items, so "a, b," means a and b.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
