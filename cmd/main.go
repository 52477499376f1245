package walnutcmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
// The command line is nutcracker's (see flags.go), plus walnut's own
// options and the convert and reshard subcommands.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reshard" {
		return runReshard(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "convert" {
		return runConvert(args[1:], stdout, stderr)
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: %v\n", err)
		writeUsage(stderr)
		return 1
	}
	// As nutcracker: -V, -h and -D print to stderr and exit, whatever
	// else the command line says (-t included).
	if o.showVersion || o.help || o.describeStats {
		writeVersion(stderr)
		if o.help {
			writeUsage(stderr)
		}
		if o.describeStats {
			if o.help {
				fmt.Fprintln(stderr)
			}
			writeStatsDescription(stderr)
		}
		return 0
	}
	if o.walnutVersion {
		fmt.Fprintf(stdout, "walnut %s\n", Version)
		return 0
	}
	if o.testConf {
		return testConf(o, stderr)
	}
	// A walnut started by a binary upgrade (SIGUSR2) or by -d runs as it
	// is: only a process started from the command line daemonizes.
	inh, inhErr := core.InheritedFromEnv()
	ready := readinessFromEnv()
	if o.daemonize && inh == nil && inhErr == nil && ready == nil {
		// The configuration is checked here, so that a bad one is an
		// error on the terminal and exit status 1, not a daemon that dies.
		if _, err := validate(o, stderr); err != nil {
			fmt.Fprintf(stderr, "%v\nwalnut: configuration file '%s' syntax is invalid\n", err, o.confFile)
			return 1
		}
		return daemonize(args, stderr)
	}
	return run(o, inh, inhErr, ready, stderr)
}

// testConf is -t: check the configuration and say so, on stderr as
// nutcracker does; unlike nutcracker, say what is wrong.
func testConf(o *options, stderr io.Writer) int {
	cfg, err := validate(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%v\nwalnut: configuration file '%s' syntax is invalid\n", err, o.confFile)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stderr, "walnut: configuration file '%s' syntax is ok\n", o.confFile)
	return 0
}

// logConfigWarnings logs what the configuration says that walnut
// ignores.
func logConfigWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
}

// validate reads the configuration and checks what building the proxy
// checks, without starting anything: plugins are not started by a
// check (their names and paths were checked by config.Load), and
// stand-ins take their place.
func validate(o *options, stderr io.Writer) (*config.Config, error) {
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := core.New(cfg, log, checkOptions(cfg)...); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return cfg, nil
}

// loadConfig reads the configuration file (TOML or nutcracker YAML, as
// config.Load tells them apart) and applies the command line to it.
func (o *options) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(o.confFile)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(o.confFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.confFile, err)
	}
	cfg.Stats.Listen = o.statsListen(cfg.Stats.Listen, config.IsYAML(o.confFile, data))
	return cfg, nil
}

// statsListen is where the nutcracker-style stats endpoint listens: as
// configured, with -a and -s replacing its host and port. A nutcracker
// YAML file, which cannot say, gets nutcracker's 0.0.0.0:22222; a TOML
// file without [stats] listen gets none, unless -a or -s ask for one.
func (o *options) statsListen(configured string, yaml bool) string {
	given := o.statsPort != 0 || o.statsAddrG
	if configured == "" && !yaml && !given {
		return ""
	}
	host, port := nutcrackerStatsAddr, strconv.Itoa(nutcrackerStatsPort)
	if configured != "" {
		if h, p, err := net.SplitHostPort(configured); err == nil {
			host, port = h, p
		} else if !given {
			return configured
		}
	}
	if o.statsAddrG {
		host = o.statsAddr
	}
	if o.statsPort != 0 {
		port = strconv.Itoa(o.statsPort)
	}
	return net.JoinHostPort(host, port)
}

// run starts walnut and serves until a signal ends it. ready, when this
// process is a daemon just started by -d, is told whether it serves.
func run(o *options, inh *core.Inheritance, inhErr error, ready *readiness, stderr io.Writer) int {
	out, err := openLog(o.output, stderr)
	if err != nil {
		msg := "walnut: " + err.Error()
		fmt.Fprintln(stderr, msg)
		ready.fail(msg)
		return 1
	}
	defer out.close()
	// invalid reports a configuration that cannot be used: on stderr,
	// in the log file, and to the foreground process of -d.
	invalid := func(err error) int {
		msg := fmt.Sprintf("%v\nwalnut: configuration file '%s' syntax is invalid", err, o.confFile)
		fmt.Fprintln(stderr, msg)
		if out.isFile() {
			slog.New(slog.NewTextHandler(out, nil)).Error("configuration is invalid", "config", o.confFile, "err", err)
		}
		ready.fail(msg)
		return 1
	}
	cfg, err := o.loadConfig()
	if err != nil {
		return invalid(err)
	}
	levelName := o.logLevel
	if levelName == "" && o.verbose < 0 {
		levelName = cfg.Log.Level
	}
	level, err := newLogLevel(o.verbose, levelName)
	format := cfg.Log.Format
	if o.logFormat != "" {
		format = o.logFormat
	}
	var log *slog.Logger
	if err == nil {
		log, err = newLogger(out, &level.slog, format)
	}
	if err != nil {
		msg := "walnut: " + err.Error()
		fmt.Fprintln(stderr, msg)
		ready.fail(msg)
		return 1
	}
	// fail reports a failure to start: in the log, on stderr when the
	// log is a file, and to the foreground process of -d.
	fail := func(what string, err error) int {
		log.Error(what, "config", o.confFile, "err", err)
		msg := fmt.Sprintf("walnut: %s: %v", what, err)
		if out.isFile() {
			fmt.Fprintln(stderr, msg)
		}
		ready.fail(msg)
		return 1
	}
	logConfigWarnings(log, cfg)
	if len(o.ignored) > 0 {
		log.Warn("command-line arguments that are not options are ignored", "args", o.ignored)
	}
	// Signals are caught before anything starts: a SIGHUP or SIGUSR2
	// that arrives as soon as the port answers must not kill walnut.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGSEGV)
	defer signal.Stop(sigs)
	if inhErr != nil {
		return fail("cannot take over from the old process", inhErr)
	}

	// Plugins start before anything listens, so that the first request
	// finds its pool's distribution and hash ready. They end with walnut:
	// Close on any return, and the kernel's parent-death signal otherwise.
	host, err := plugins.Start(cfg.Plugins, log)
	if err != nil {
		return fail("cannot start", err)
	}
	defer host.Close()
	opts, err := pluginOptions(cfg, host)
	if err != nil {
		return invalid(fmt.Errorf("%s: %w", cfg.Path, err))
	}
	if o.mbufSize > 0 {
		opts = append(opts, core.WithReadBufferSize(o.mbufSize))
	}
	px, err := core.New(cfg, log, opts...)
	if err != nil {
		return invalid(fmt.Errorf("%s: %w", cfg.Path, err))
	}
	// A restarted distribution plugin may answer otherwise than the
	// process it replaces; until then the pools route with its last table.
	host.OnRestart(px.Rebuild)

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fail("cpu profile", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail("cpu profile", err)
		}
		defer pprof.StopCPUProfile()
	}
	raiseFileLimit(log)
	px.SetVersion(Version)
	px.RecordLatency(cfg.Stats.MetricsListen != "")
	if err := px.StartInherited(inh); err != nil {
		return fail("cannot start", err)
	}
	var ep endpoints
	if err := ep.apply(cfg.Stats, px, log); err != nil {
		px.Close()
		return fail("cannot start", err)
	}
	defer ep.close()
	var pf *pidFile
	if o.pidFile != "" {
		if pf, err = writePidFile(o.pidFile); err != nil {
			px.Close()
			return fail("cannot start", err)
		}
		defer func() {
			if err := pf.remove(); err != nil {
				log.Warn("cannot remove the pid file", "file", o.pidFile, "err", err)
			}
		}()
	}
	log.Info("walnut started", "version", Version, "config", cfg.Path, "pid", os.Getpid(), "upgrade", inh != nil,
		"daemon", ready != nil)
	ready.ready()
	s := &server{o: o, px: px, host: host, cfg: cfg, plugins: cfg.Plugins, sigs: sigs, ep: &ep, log: log, out: out, level: level, pid: pf}
	return s.serve()
}

// server is a running walnut and what its signals act on.
type server struct {
	o    *options
	px   *core.Proxy
	host *plugins.Host
	cfg  *config.Config
	// plugins are what host runs, whatever later reloads say.
	plugins []config.Plugin
	sigs    <-chan os.Signal
	ep      *endpoints
	log     *slog.Logger
	out     *logOutput
	level   *logLevel
	pid     *pidFile
}

// serve runs until a signal ends the process: SIGTERM and SIGINT drain
// and stop, SIGHUP reopens the log file and reloads the configuration,
// SIGTTIN and SIGTTOU raise and lower the log level, SIGUSR2 hands over
// to a new binary. Every signal is logged, whatever the level.
func (s *server) serve() int {
	for sig := range s.sigs {
		switch sig {
		case syscall.SIGHUP:
			// The line goes to the new file, where whoever rotated the
			// log looks for it.
			err := s.out.reopen()
			s.signalReceived(sig, "reopen the log file, reload the configuration")
			if err != nil {
				s.log.Error("reopening the log file failed, ignored", "err", err)
			}
			s.reload()
		case syscall.SIGTTIN:
			s.signalReceived(sig, "up logging level")
			s.level.step(true, s.log)
		case syscall.SIGTTOU:
			s.signalReceived(sig, "down logging level")
			s.level.step(false, s.log)
		case syscall.SIGUSR1:
			s.signalReceived(sig, "none")
		case syscall.SIGSEGV:
			// Only another process sends it (a fault in Go code is a
			// panic): as nutcracker, leave a trace and die.
			s.signalReceived(sig, "dump the goroutines and exit")
			pprof.Lookup("goroutine").WriteTo(s.out, 2)
			os.Exit(2)
		case syscall.SIGUSR2:
			s.signalReceived(sig, "binary upgrade")
			if s.upgrade() {
				return 0
			}
		default:
			s.signalReceived(sig, "exiting")
			s.log.Info("walnut stopping", "signal", signalName(sig), "shutdown_timeout", s.cfg.ShutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			err := s.px.Shutdown(ctx)
			cancel()
			if err != nil {
				s.log.Warn("shutdown timed out", "err", err)
			}
			s.log.Info("walnut stopped")
			return 0
		}
	}
	return 0
}

func (s *server) signalReceived(sig os.Signal, action string) {
	s.log.Log(context.Background(), levelNotice, "signal received", "signal", signalName(sig), "action", action)
}

func signalName(sig os.Signal) string {
	if n, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(n); name != "" {
			return name
		}
	}
	return sig.String()
}

// reload applies the configuration file as it is now, or nothing.
func (s *server) reload() {
	path := s.o.confFile
	next, err := s.o.loadConfig()
	if err == nil {
		logConfigWarnings(s.log, next)
		// Plugins keep running as started: restarting one under live
		// traffic is what SIGUSR2 is for.
		warnPluginChanges(s.plugins, next.Plugins, s.log)
		err = checkPluginUse(next, s.host)
	}
	if err == nil {
		err = s.px.Reload(next)
	}
	if err != nil {
		s.log.Error("reload rejected; the running configuration stays", "config", path, "err", err)
		return
	}
	s.px.RecordLatency(next.Stats.MetricsListen != "")
	if err := s.ep.apply(next.Stats, s.px, s.log); err != nil {
		s.log.Error("reload: stats endpoints", "err", err)
	}
	s.cfg = next
	s.log.Info("reload applied", "config", path, "pools", len(s.cfg.Pools))
}

// upgrade hands over to a new process running this binary with these
// arguments (SIGUSR2); it reports whether this process is done.
func (s *server) upgrade() bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout+30*time.Second)
	defer cancel()
	// The new process binds the stats endpoints itself.
	s.ep.close()
	if err := s.px.Upgrade(ctx, os.Args); err != nil {
		if err := s.ep.apply(s.cfg.Stats, s.px, s.log); err != nil {
			s.log.Error("stats endpoints after the failed upgrade", "err", err)
		}
		s.log.Error("upgrade failed", "err", err)
		return false
	}
	// The new process has written its pid to the pid file.
	if s.pid != nil {
		s.pid.keep = true
	}
	s.log.Info("walnut exiting after upgrade")
	return true
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
