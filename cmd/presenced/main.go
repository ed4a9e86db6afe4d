// Command presenced is the presence gateway. See the README and API.md §1
// for the command line.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/presenced/presenced/internal/app"
	"github.com/presenced/presenced/internal/config"
)

const usage = `presenced: enterprise presence gateway

Usage:
  presenced serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--data-dir DIR]
  presenced token create [--config FILE] [--data-dir DIR] EMAIL
  presenced admin token create [--config FILE] [--data-dir DIR]
  presenced admin account create [--config FILE] [--data-dir DIR] NAME   (password from PRESENCED_ADMIN_PASSWORD or stdin)
  presenced check-config [--config FILE]
  presenced bench subscribe|fanout|lookup|churn|idle --target URL --admin URL --admin-token TOKEN [flags]
  presenced version

Every configuration key can also be set as PRESENCED_<KEY> (see README).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch {
	case args[0] == "serve":
		return serve(args[1:], stderr)
	case args[0] == "bench":
		return bench(args[1:], stdout, stderr)
	case args[0] == "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case args[0] == "version" || args[0] == "--version":
		fmt.Fprintln(stdout, "presenced", app.Version)
		return 0
	case len(args) >= 2 && args[0] == "token" && args[1] == "create":
		return tokenCreate(args[2:], stdout, stderr, false)
	case len(args) >= 3 && args[0] == "admin" && args[1] == "token" && args[2] == "create":
		return tokenCreate(args[3:], stdout, stderr, true)
	case len(args) >= 3 && args[0] == "admin" && args[1] == "account" && args[2] == "create":
		return accountCreate(args[3:], os.Stdin, stdout, stderr)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "presenced: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// flags are the command-line flags shared by the subcommands; each maps to
// a config key and is passed on only when the user set it.
type flags struct {
	fs     *flag.FlagSet
	config string
	keys   map[string]*string // config key -> flag value
	src    config.Source      // what load read, for Run to read again
}

func newFlags(name string, stderr io.Writer, withListen, withDataDir bool) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError), keys: map[string]*string{}}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.config, "config", os.Getenv("PRESENCED_CONFIG"), "YAML configuration `file` (also PRESENCED_CONFIG)")
	if withListen {
		f.keys["listen"] = f.fs.String("listen", "", "client listener `address` (default :8080)")
		f.keys["admin_listen"] = f.fs.String("admin-listen", "", "admin listener `address` (default 127.0.0.1:8081)")
	}
	if withDataDir {
		f.keys["data_dir"] = f.fs.String("data-dir", "", "data `directory` (default ./presenced-data)")
	}
	return f
}

// load parses args and loads the configuration; problems go to stderr.
func (f *flags) load(args []string, stderr io.Writer) (config.Config, []string, bool) {
	if err := f.fs.Parse(args); err != nil {
		return config.Config{}, nil, false
	}
	set := map[string]string{}
	f.fs.Visit(func(fl *flag.Flag) {
		for key, v := range f.keys {
			if fl.Name == flagName(key) {
				set[key] = *v
			}
		}
	})
	f.src = config.Source{File: f.config, Env: os.Environ(), Flags: set}
	cfg, err := config.Load(f.src)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			fmt.Fprintf(stderr, "presenced: invalid configuration (%d problem(s)):\n", len(ps))
			for _, p := range ps {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
		} else {
			fmt.Fprintf(stderr, "presenced: %v\n", err)
		}
		return cfg, nil, false
	}
	return cfg, f.fs.Args(), true
}

func flagName(key string) string {
	switch key {
	case "admin_listen":
		return "admin-listen"
	case "data_dir":
		return "data-dir"
	}
	return key
}

func serve(args []string, stderr io.Writer) int {
	f := newFlags("serve", stderr, true, true)
	cfg, rest, ok := f.load(args, stderr)
	if !ok {
		return 1
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "presenced serve: unexpected arguments %q\n", rest)
		return 2
	}
	log := app.NewLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log, app.RunOptions{Source: f.src, Console: stderr}); err != nil {
		log.Error("presenced failed", "err", err)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	f := newFlags("check-config", stderr, false, false)
	_, rest, ok := f.load(args, stderr)
	if !ok {
		return 1
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "presenced check-config: unexpected arguments %q\n", rest)
		return 2
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return 0
}

func tokenCreate(args []string, stdout, stderr io.Writer, admin bool) int {
	name := "token create"
	if admin {
		name = "admin token create"
	}
	f := newFlags(name, stderr, false, true)
	cfg, rest, ok := f.load(args, stderr)
	if !ok {
		return 1
	}
	log := app.NewLogger(cfg.Log, io.Discard)
	ctx := context.Background()
	var secret string
	var err error
	switch {
	case admin && len(rest) == 0:
		secret, err = app.CreateAdminToken(ctx, cfg, log)
	case !admin && len(rest) == 1:
		secret, err = app.CreateToken(ctx, cfg, rest[0], log)
	default:
		fmt.Fprintf(stderr, "usage: presenced %s [--config FILE] [--data-dir DIR]%s\n", name, map[bool]string{true: "", false: " EMAIL"}[admin])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "presenced %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintln(stdout, secret)
	return 0
}

// accountCreate creates a local dashboard account. The password is read
// from PRESENCED_ADMIN_PASSWORD or, without it, from the first line of
// standard input, never from the command line (where ps shows it).
func accountCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const name = "admin account create"
	f := newFlags(name, stderr, false, true)
	cfg, rest, ok := f.load(args, stderr)
	if !ok {
		return 1
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "usage: presenced %s [--config FILE] [--data-dir DIR] NAME  (password from PRESENCED_ADMIN_PASSWORD or stdin)\n", name)
		return 2
	}
	password, set := os.LookupEnv(config.EnvAdminPassword)
	if !set {
		line, err := bufio.NewReaderSize(io.LimitReader(stdin, 4096), 4096).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintf(stderr, "presenced %s: read password: %v\n", name, err)
			return 1
		}
		password = strings.TrimRight(line, "\r\n")
	}
	log := app.NewLogger(cfg.Log, io.Discard)
	if err := app.CreateAdminAccount(context.Background(), cfg, rest[0], password, log); err != nil {
		fmt.Fprintf(stderr, "presenced %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(stdout, "admin account %q created\n", rest[0])
	return 0
}
