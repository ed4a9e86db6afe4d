package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/presenced/presenced/internal/loadgen"
)

// bench runs `presenced bench SCENARIO ...`, the load generator (see
// docs/loadtest.md). Exit codes: 0 the run completed, 1 it failed, 2 bad
// arguments, 130 interrupted by SIGINT or SIGTERM (the summary of what ran
// is printed all the same).
func bench(args []string, stdout, stderr io.Writer) int {
	cfg, err := loadgen.ParseArgs(args, stderr)
	if errors.Is(err, loadgen.ErrHelp) {
		return 0
	}
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "presenced bench: %s\n", line)
		}
		return 2
	}
	text, jsonOut := stdout, io.Writer(nil)
	switch cfg.JSON {
	case "":
	case "-":
		text, jsonOut = stderr, stdout
	default:
		f, err := os.Create(cfg.JSON)
		if err != nil {
			fmt.Fprintf(stderr, "presenced bench: --json: %v\n", err)
			return 2
		}
		defer f.Close()
		jsonOut = f
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the run winds down (and prints its summary);
	// a second one kills the process the default way.
	stopAfter := context.AfterFunc(ctx, stop)
	defer stopAfter()

	sum, runErr := loadgen.Run(ctx, cfg, stderr)
	code := 0
	if err := sum.WriteText(text); err != nil {
		fmt.Fprintf(stderr, "presenced bench: %v\n", err)
		code = 1
	}
	if jsonOut != nil {
		if err := sum.WriteJSON(jsonOut); err != nil {
			fmt.Fprintf(stderr, "presenced bench: --json: %v\n", err)
			code = 1
		}
	}
	switch {
	case runErr != nil:
		fmt.Fprintf(stderr, "presenced bench: %v\n", runErr)
		return 1
	case sum.Interrupted:
		return 130
	}
	return code
}
