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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/plugins"
	"github.com/walnutproxy/walnut/reshard"
)

// runReshard is "walnut reshard": move keys from the servers of one
// configuration to those of another (see docs/resharding.md).
func runReshard(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("walnut reshard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		from     = fs.String("from", "", "configuration `file` before the reshard (default: each pool's [pools.NAME.migration] in --to)")
		to       = fs.String("to", "", "configuration `file` after the reshard (required)")
		pool     = fs.String("pool", "", "reshard this `pool` only (default: every pool in both files)")
		dryRun   = fs.Bool("dry-run", false, "count what would move, per old and new server, and touch nothing")
		rate     = fs.Int("rate", 0, "move at most `N` keys per second (0: no limit)")
		state    = fs.String("state", "", "state `file` for resuming (default: the --to file's name + .reshard.json, beside it)")
		batch    = fs.Int("batch", 100, "keys per MIGRATE or memcached pipeline")
		scan     = fs.Int("scan-count", 1000, "SCAN's COUNT")
		parallel = fs.Int("parallel", 4, "old servers handled at once")
		timeout  = fs.Duration("timeout", 10*time.Second, "bound on each server command, and MIGRATE's timeout")
		replace  = fs.Bool("replace", false, "the old server's copy replaces one the new server has (only while nothing writes to the new servers)")
		sample   = fs.Int("bytes-sample", 1, "with --dry-run, measure one moving key in `N` (MEMORY USAGE) and count it N times")
		every    = fs.Duration("progress-every", 5*time.Second, "progress line interval when stderr is not a terminal")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: walnut reshard --to NEW.toml [--from OLD.toml] [--pool NAME] [--dry-run] [--rate N] [--state FILE]\n\n"+
			"Moves every key whose server differs between OLD and NEW, online: serve NEW with walnut first,\n"+
			"with [pools.NAME.migration] from = \"OLD.toml\" so that keys not moved yet are still found.\n"+
			"See docs/resharding.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *to == "" {
		if *to == "" {
			fmt.Fprintf(stderr, "walnut reshard: --to is required\n")
		} else {
			fmt.Fprintf(stderr, "walnut reshard: unexpected argument %q\n", fs.Arg(0))
		}
		fs.Usage()
		return 2
	}
	toCfg, err := config.Load(*to)
	if err != nil {
		fmt.Fprintf(stderr, "walnut reshard: configuration is invalid:\n%v\n", err)
		return 1
	}
	var fromCfg *config.Config
	if *from != "" {
		if fromCfg, err = config.Load(*from); err != nil {
			fmt.Fprintf(stderr, "walnut reshard: configuration is invalid:\n%v\n", err)
			return 1
		}
	}
	log, _ := newLogger(stderr, slog.LevelWarn, "text")
	opts := reshard.Options{From: fromCfg, To: toCfg, DryRun: *dryRun, Replace: *replace, Rate: *rate,
		Batch: *batch, ScanCount: *scan, Parallel: *parallel, Timeout: *timeout, BytesSample: *sample,
		Progress: stderr, ProgressEvery: *every}
	if *pool != "" {
		opts.Pools = []string{*pool}
	}
	if f, ok := stderr.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			opts.Terminal = true
			if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
				opts.Width = int(ws.Col)
			}
		}
	}
	// Plugins the pools name are started as walnut starts them, so that
	// keys are placed by the very same code.
	for _, side := range []struct {
		cfg  *config.Config
		opts *[]core.Option
	}{{fromCfg, &opts.FromOptions}, {toCfg, &opts.ToOptions}} {
		if side.cfg == nil || len(side.cfg.Plugins) == 0 {
			continue
		}
		host, err := plugins.Start(side.cfg.Plugins, log)
		if err != nil {
			fmt.Fprintf(stderr, "walnut reshard: %s: %v\n", side.cfg.Path, err)
			return 1
		}
		defer host.Close()
		if *side.opts, err = pluginOptions(side.cfg, host); err != nil {
			fmt.Fprintf(stderr, "walnut reshard: %s: %v\n", side.cfg.Path, err)
			return 1
		}
	}
	if fromCfg == nil {
		opts.FromOptions = opts.ToOptions
	}
	pools, err := reshard.Plans(opts)
	if err != nil {
		fmt.Fprintf(stderr, "walnut reshard: %v\n", err)
		return 1
	}
	if !*dryRun {
		statePath := *state
		if statePath == "" {
			statePath = reshard.DefaultStatePath(*to)
		}
		absFrom, _ := filepath.Abs(*from)
		absTo, _ := filepath.Abs(*to)
		if *from == "" {
			absFrom = ""
		}
		if opts.State, err = reshard.LoadState(statePath, absFrom, absTo); err != nil {
			fmt.Fprintf(stderr, "walnut reshard: state file: %v\n", err)
			return 1
		}
		for _, name := range pools {
			for _, p := range toCfg.Pools {
				if p.Name == name && p.Migration == nil {
					fmt.Fprintf(stderr, "walnut reshard: warning: pool %s in %s has no [pools.%s.migration]: a walnut serving it does not find the keys not moved yet\n",
						name, toCfg.Path, name)
				}
			}
		}
		fmt.Fprintf(stderr, "walnut reshard: state in %s; interrupt (Ctrl-C) and run again to resume\n", statePath)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintf(stderr, "\nwalnut reshard: stopping after the batches under way (again to stop at once)\n")
		cancel()
		if _, ok := <-sigs; ok {
			os.Exit(130)
		}
	}()

	rep, err := reshard.Run(ctx, opts)
	rep.Print(stdout)
	switch {
	case rep.Interrupted:
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "walnut reshard: %v\n", err)
		return 1
	}
	failed := false
	for _, pr := range rep.Pools {
		failed = failed || pr.Errors > 0
	}
	if *dryRun {
		return 0
	}
	if failed {
		fmt.Fprintf(stderr, "walnut reshard: some keys could not be moved (see above); fix the cause and run again\n")
		return 1
	}
	var names []string
	for _, pr := range rep.Pools {
		names = append(names, pr.Name)
	}
	fmt.Fprintf(stdout, "done: every key of pool %s is where %s places it. Remove the [pools.NAME.migration] tables from %s and reload walnut (kill -HUP).\n",
		strings.Join(names, ", "), toCfg.Path, toCfg.Path)
	return 0
}
