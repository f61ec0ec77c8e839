// Package cli implements the fluoro command: its subcommands are small
// structs on the standard flag package. Main parses arguments, runs the
// subcommand and returns an exit code; errors are printed once, here.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/fluoro-dev/fluoro/internal/config"
	"github.com/fluoro-dev/fluoro/internal/server"
	"github.com/fluoro-dev/fluoro/internal/version"
)

// Env is the process environment a command sees, injectable for tests.
type Env struct {
	Args   []string // without the program name
	Getenv func(string) string
	Stdin  io.Reader // nil when there is none: commands that would ask need a flag instead
	Stdout io.Writer
	Stderr io.Writer
}

// errUsage means the message was already printed with the usage.
var errUsage = errors.New("usage")

const usage = `fluoro is a self-hosted experiment tracker.

Usage:
  fluoro server [flags]    run the tracking server
  fluoro sync DIR...       send what the Python SDK spooled but did not deliver
  fluoro runs CMD ...      list, show or delete a server's runs ('fluoro runs -h')
  fluoro config dump       print the effective configuration (secrets redacted)
  fluoro version           print the version

Run 'fluoro server -h' for the server's flags. Every flag can also be set
with an environment variable FLUORO_<NAME>, e.g. FLUORO_ADDR; a flag wins.
`

// Main runs the command and returns the process exit code.
func Main(ctx context.Context, env Env) int {
	err := run(ctx, env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(env.Stderr, "fluoro: %v\n", err)
	return 1
}

func run(ctx context.Context, env Env) error {
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	switch cmd, args := env.Args[0], env.Args[1:]; cmd {
	case "server":
		return runServer(ctx, env, args)
	case "sync":
		return runSync(ctx, env, args)
	case "runs":
		return runRuns(ctx, env, args)
	case "config":
		if len(args) == 0 || args[0] != "dump" {
			fmt.Fprint(env.Stderr, "usage: fluoro config dump [server flags]\n")
			return errUsage
		}
		return runConfigDump(env, args[1:])
	case "version", "--version", "-version":
		fmt.Fprintf(env.Stdout, "fluoro %s\n", version.String())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprintf(env.Stderr, "fluoro: unknown command %q\n\n%s", env.Args[0], usage)
	return errUsage
}

func serverFlags(env Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	config.RegisterFlags(fs)
	return fs
}

func loadConfig(env Env, name string, args []string) (config.Config, error) {
	fs := serverFlags(env, name)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, err
		}
		return config.Config{}, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "fluoro %s: unexpected argument %q\n", name, fs.Arg(0))
		return config.Config{}, errUsage
	}
	return config.Load(env.Getenv, fs)
}

func runConfigDump(env Env, args []string) error {
	cfg, err := loadConfig(env, "config dump", args)
	if err != nil {
		return err
	}
	return config.Dump(env.Stdout, cfg)
}

func runServer(ctx context.Context, env Env, args []string) error {
	cfg, err := loadConfig(env, "server", args)
	if err != nil {
		return err
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	if nd := config.NonDefault(cfg); len(nd) > 0 {
		log.Info("settings", "non_default", nd)
	}
	tuneGC(env.Getenv)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log, env.Stdout)
	if err != nil {
		return err
	}
	runErr := srv.Run(ctx)
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

// tuneGC sets the server's garbage collector unless GOGC or GOMEMLIMIT set
// it: a heap allowed to grow to 4× what is live (GOGC=300), collected
// harder as Go's memory nears 200 MiB. Ingest allocates briefly per batch;
// with the default (GOGC=100) collection took about a tenth of the
// server's CPU: durable ingest (bench/ingest, 6M points, back to back)
// went from 0.75–0.78M to 0.87–0.90M points/s, the peak RSS from 76 MB
// to 111–122 MB. The limit keeps a cold 100-run chart (W6), which reads a
// few hundred MB through memory, near its old RSS (228 MB peak at 200 MiB,
// 280 MB at 256 MiB; at 160 MiB the collector thrashes: 1.3 s, not 0.7 s).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(200 << 20)
	}
}
