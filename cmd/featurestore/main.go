// Command featurestore computes, stores and serves customer x product
// interaction features. Run `featurestore help` for its commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "featurestore:", err)
		os.Exit(exitCode(err))
	}
}
