package walnutcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/plugins"
)

// Version is walnut's version, set at build time with
// -ldflags "-X github.com/walnutproxy/walnut/cmd.Version=...".
var Version = "0.1.0-dev"

// Main runs walnut with the process's arguments and exits.
func Main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run is Main without the exit, for tests: it returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reshard" {
		return runReshard(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("walnut", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		confFile  = fs.String("c", "walnut.toml", "configuration `file`")
		testConf  = fs.Bool("t", false, "check the configuration and exit: 0 if valid, 1 if not")
		version   = fs.Bool("version", false, "print the version and exit")
		logLevel  = fs.String("log-level", "", "log `level`: debug, info, warn or error (default: [log] level, or info)")
		logFormat = fs.String("log-format", "", "log `format`: text or json (default: [log] format, or text)")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile to `file` until exit (for performance work)")
		verbose   = fs.Int("v", -1, "log `level` as nutcracker counts it, 0-11: 4 warn, 5-6 info, 7 and up debug")
	)
	fs.IntVar(verbose, "verbose", -1, "same as -v")
	fs.StringVar(confFile, "conf-file", "walnut.toml", "configuration `file` (same as -c)")
	fs.BoolVar(testConf, "test-conf", false, "same as -t")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: walnut [-c file] [-t] [--version]\n       walnut reshard --to NEW.toml [--from OLD.toml] [--dry-run] ... (walnut reshard -h)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "walnut: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "walnut %s\n", Version)
		return 0
	}
	cfg, err := config.Load(*confFile)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: configuration is invalid:\n%v\n", err)
		return 1
	}
	level, format := cfg.Log.Level, cfg.Log.Format
	if *verbose >= 0 {
		level = nutcrackerLevel(*verbose)
	}
	if *logLevel != "" {
		level = *logLevel
	}
	if *logFormat != "" {
		format = *logFormat
	}
	log, err := newLogger(stderr, level, format)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: %v\n", err)
		return 2
	}
	if *testConf {
		// Plugins are not started by a check: their names and paths were
		// checked by config.Load, and stand-ins take their place here.
		if _, err := core.New(cfg, log, checkOptions(cfg)...); err != nil {
			fmt.Fprintf(stderr, "walnut: configuration is invalid:\n%s: %v\n", cfg.Path, err)
			return 1
		}
		fmt.Fprintf(stdout, "walnut: configuration file '%s' syntax is ok\n", cfg.Path)
		return 0
	}
	// Plugins start before anything listens, so that the first request
	// finds its pool's distribution and hash ready. They end with walnut:
	// Close on any return, and the kernel's parent-death signal otherwise.
	host, err := plugins.Start(cfg.Plugins, log)
	if err != nil {
		log.Error("cannot start", "config", cfg.Path, "err", err)
		return 1
	}
	defer host.Close()
	opts, err := pluginOptions(cfg, host)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: configuration is invalid:\n%s: %v\n", cfg.Path, err)
		return 1
	}
	px, err := core.New(cfg, log, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: configuration is invalid:\n%s: %v\n", cfg.Path, err)
		return 1
	}
	// A restarted distribution plugin may answer otherwise than the
	// process it replaces; until then the pools route with its last table.
	host.OnRestart(px.Rebuild)

	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "walnut: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "walnut: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	raiseFileLimit(log)
	// Signals are caught before anything listens: a SIGHUP or SIGUSR2
	// that arrives as soon as the port answers must not kill walnut.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	inh, err := core.InheritedFromEnv()
	if err != nil {
		log.Error("cannot take over from the old process", "err", err)
		return 1
	}
	px.SetVersion(Version)
	px.RecordLatency(cfg.Stats.MetricsListen != "")
	if err := px.StartInherited(inh); err != nil {
		log.Error("cannot start", "config", cfg.Path, "err", err)
		return 1
	}
	var ep endpoints
	if err := ep.apply(cfg.Stats, px, log); err != nil {
		log.Error("cannot start", "config", cfg.Path, "err", err)
		px.Close()
		return 1
	}
	defer ep.close()
	log.Info("walnut started", "version", Version, "config", cfg.Path, "pid", os.Getpid(), "upgrade", inh != nil)
	return serve(px, host, cfg, *confFile, sigs, &ep, log)
}

// serve runs until a signal ends the process: SIGTERM and SIGINT drain
// and stop, SIGHUP reloads the configuration, SIGUSR2 hands over to a new
// binary.
func serve(px *core.Proxy, host *plugins.Host, cfg *config.Config, path string, sigs <-chan os.Signal, ep *endpoints, log *slog.Logger) int {
	running := cfg.Plugins // what host runs, whatever later reloads say
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			next, err := config.Load(path)
			if err == nil {
				// Plugins keep running as started: restarting one under
				// live traffic is what SIGUSR2 is for.
				warnPluginChanges(running, next.Plugins, log)
				err = checkPluginUse(next, host)
			}
			if err == nil {
				err = px.Reload(next)
			}
			if err != nil {
				log.Error("reload rejected; the running configuration stays", "config", path, "err", err)
				continue
			}
			px.RecordLatency(next.Stats.MetricsListen != "")
			if err := ep.apply(next.Stats, px, log); err != nil {
				log.Error("reload: stats endpoints", "err", err)
			}
			cfg = next
			log.Info("reload applied", "config", path, "pools", len(cfg.Pools))
		case syscall.SIGUSR2:
			log.Info("upgrade requested")
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+30*time.Second)
			// The new process binds the stats endpoints itself.
			ep.close()
			err := px.Upgrade(ctx, os.Args)
			cancel()
			if err != nil {
				if err := ep.apply(cfg.Stats, px, log); err != nil {
					log.Error("stats endpoints after the failed upgrade", "err", err)
				}
			}
			if err != nil {
				log.Error("upgrade failed", "err", err)
				continue
			}
			log.Info("walnut exiting after upgrade")
			return 0
		default:
			log.Info("walnut stopping", "signal", sig.String(), "shutdown_timeout", cfg.ShutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			err := px.Shutdown(ctx)
			cancel()
			if err != nil {
				log.Warn("shutdown timed out", "err", err)
			}
			log.Info("walnut stopped")
			return 0
		}
	}
	return 0
}

// raiseFileLimit lifts the soft limit on open files to the hard one:
// every client and server connection takes a descriptor, and the usual
// soft limit of 1024 would cap a proxy far below what it can serve.
func raiseFileLimit(log *slog.Logger) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= rl.Max {
		return
	}
	old := rl.Cur
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("cannot raise the open files limit", "limit", old, "err", err)
	}
}

// nutcrackerLevel maps nutcracker's -v levels (emerg 0 ... pverb 11,
// notice 5 by default) to slog's.
func nutcrackerLevel(v int) string {
	switch {
	case v <= 3:
		return "error"
	case v == 4:
		return "warn"
	case v <= 6:
		return "info"
	default:
		return "debug"
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("bad log format %q: want text or json", format)
	}
}
