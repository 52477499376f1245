package walnutcmd

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/plugins"
)

// pluginOptions makes what every running plugin serves available to the
// proxy, after checking that each pool's use of a plugin is one it
// serves. Options cover every plugin, not only those the pools name now,
// so that a reload may start using one.
func pluginOptions(cfg *config.Config, host *plugins.Host) ([]core.Option, error) {
	if err := checkPluginUse(cfg, host); err != nil {
		return nil, err
	}
	var opts []core.Option
	for _, name := range host.Names() {
		if d, ok := host.Distribution(name); ok {
			opts = append(opts, core.WithDistribution(name, d))
		}
		if h, ok := host.Hasher(name); ok {
			opts = append(opts, core.WithHasher(name, h))
		}
	}
	return opts, nil
}

// checkPluginUse reports a pool that names a plugin for something it
// does not serve (a hash-only plugin as a distribution), or a plugin that
// is not running (added to [plugins] since walnut started). A plugin
// named like a builtin serves what it serves; the builtin does the rest.
func checkPluginUse(cfg *config.Config, host *plugins.Host) error {
	declared := map[string]bool{}
	for _, p := range cfg.Plugins {
		declared[p.Name] = true
	}
	check := func(pool, key, name string, served bool, builtin error) error {
		if !declared[name] || served || builtin == nil {
			return nil
		}
		kinds := host.Serves(name)
		if kinds == nil {
			return fmt.Errorf("pool %s: %s = %q: plugin %s is not running; [plugins] changes take effect on restart or upgrade (SIGUSR2)",
				pool, key, name, name)
		}
		return fmt.Errorf("pool %s: %s = %q: plugin %s serves no %s (it serves: %s)",
			pool, key, name, name, key, strings.Join(kinds, ", "))
	}
	for _, p := range cfg.Pools {
		_, hashed := host.Hasher(p.Hash)
		_, hashErr := distributions.LookupHash(p.Hash)
		if err := check(p.Name, "hash", p.Hash, hashed, hashErr); err != nil {
			return err
		}
		_, dist := host.Distribution(p.Distribution)
		_, distErr := distributions.Lookup(p.Distribution)
		if err := check(p.Name, "distribution", p.Distribution, dist, distErr); err != nil {
			return err
		}
	}
	return nil
}

// checkOptions stand in for the plugins the pools name, so that walnut -t
// checks everything else without starting any: a stand-in distribution
// routes nothing, a stand-in hash fails.
func checkOptions(cfg *config.Config) []core.Option {
	var opts []core.Option
	for _, p := range cfg.Plugins {
		opts = append(opts, core.WithDistribution(p.Name, notStarted{}), core.WithHasher(p.Name, notStarted{}))
	}
	return opts
}

type notStarted struct{}

func (notStarted) Build([]distributions.Server) (distributions.Table, error) {
	return notStarted{}, nil
}
func (notStarted) Pick(uint32) int { return -1 }
func (notStarted) HashBatch([][]byte, []uint32) error {
	return fmt.Errorf("plugin not started (walnut -t)")
}

// samePlugins reports whether a reload leaves [plugins] as it is.
func samePlugins(a, b []config.Plugin) bool {
	return slices.EqualFunc(a, b, func(x, y config.Plugin) bool {
		return x.Name == y.Name && x.Path == y.Path && slices.Equal(x.Args, y.Args)
	})
}

// warnPluginChanges says that a reload does not restart plugins.
func warnPluginChanges(running, next []config.Plugin, log *slog.Logger) {
	if !samePlugins(running, next) {
		log.Warn("reload: [plugins] changes take effect on restart or upgrade (SIGUSR2) only; the running plugins stay")
	}
}
