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
// cannot take a builtin's name (config refuses it), so a name is either
// a builtin's or a plugin's.
func checkPluginUse(cfg *config.Config, host *plugins.Host) error {
	declared := map[string]bool{}
	for _, p := range cfg.Plugins {
		declared[p.Name] = true
	}
	check := func(pool, key, name string, served bool) error {
		if !declared[name] || served {
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
		if err := check(p.Name, "hash", p.Hash, hashed); err != nil {
			return err
		}
		_, dist := host.Distribution(p.Distribution)
		if err := check(p.Name, "distribution", p.Distribution, dist); err != nil {
			return err
		}
	}
	return nil
}

// checkOptions stand in for the plugins the pools name, so that walnut -t
// checks everything else without starting any.
func checkOptions(cfg *config.Config) []core.Option {
	var opts []core.Option
	for _, p := range cfg.Plugins {
		d := distributions.Declared{Name: p.Name}
		opts = append(opts, core.WithDistribution(p.Name, d), core.WithHasher(p.Name, d))
	}
	return opts
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
