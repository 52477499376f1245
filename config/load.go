package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/walnutproxy/walnut/distributions"
)

// Load reads and validates a configuration file: walnut's TOML, or a
// nutcracker YAML file (told apart by IsYAML). Every problem is
// reported, each naming the file, the key and what is wrong.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if IsYAML(path, data) {
		return ParseYAML(path, data)
	}
	return Parse(path, data)
}

// Parse reads a TOML configuration held in data; path names it in
// messages.
func Parse(path string, data []byte) (*Config, error) {
	return parse(path, data, &decoder{})
}

func parse(path string, data []byte, d *decoder) (*Config, error) {
	var tree map[string]any
	md, err := toml.Decode(string(data), &tree)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := d.config(path, tree, poolOrder(md.Keys()))
	if err := d.err(path); err != nil {
		return nil, err
	}
	cfg.Warnings = d.warnings
	return cfg, nil
}

// poolOrder returns the pool names in the order the file defines them;
// a Go map would lose it, and nutcracker users expect stats and logs to
// list pools as written.
func poolOrder(keys []toml.Key) []string {
	var order []string
	for _, k := range keys {
		if len(k) == 2 && k[0] == "pools" && !slices.Contains(order, k[1]) {
			order = append(order, k[1])
		}
	}
	return order
}

func (d *decoder) config(path string, tree map[string]any, order []string) *Config {
	cfg := &Config{Path: path}
	d.path = path
	t := d.table("", tree)
	cfg.ShutdownTimeout = DefaultShutdownTimeout
	if pt := t.subtable("proxy"); pt != nil {
		cfg.Workers = pt.integer("workers", 0)
		if cfg.Workers < 0 || cfg.Workers > 1024 {
			d.addf(pt.key("workers"), "want 0 (the default) to 1024, got %d", cfg.Workers)
		}
		cfg.ShutdownTimeout = d.duration(pt, "shutdown_timeout", DefaultShutdownTimeout)
		pt.done()
	}
	if st := t.subtable("stats"); st != nil {
		cfg.Stats.Listen = st.str("listen", "")
		if cfg.Stats.Listen != "" {
			d.check(st.key("listen"), validListen(cfg.Stats.Listen))
		}
		cfg.Stats.MetricsListen = st.str("metrics_listen", "")
		if cfg.Stats.MetricsListen != "" {
			d.check(st.key("metrics_listen"), validListen(cfg.Stats.MetricsListen))
		}
		cfg.Stats.Pprof = st.boolean("pprof", false)
		if cfg.Stats.Pprof && cfg.Stats.MetricsListen == "" {
			d.addf(st.key("pprof"), "needs metrics_listen, where /debug/pprof is served")
		}
		st.done()
	}
	cfg.Log = Log{Level: "info", Format: "text"}
	if lt := t.subtable("log"); lt != nil {
		cfg.Log.Level = lt.str("level", "info")
		switch cfg.Log.Level {
		case "debug", "info", "warn", "error":
		default:
			d.addf(lt.key("level"), "want debug, info, warn or error, got %q", cfg.Log.Level)
		}
		cfg.Log.Format = lt.str("format", "text")
		if cfg.Log.Format != "text" && cfg.Log.Format != "json" {
			d.addf(lt.key("format"), "want text or json, got %q", cfg.Log.Format)
		}
		lt.done()
	}
	if pt := t.subtable("plugins"); pt != nil {
		names := make([]string, 0, len(pt.m))
		for name := range pt.m {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if et := pt.subtable(name); et != nil {
				cfg.Plugins = append(cfg.Plugins, d.plugin(name, et))
			}
		}
		pt.done()
	}
	names := make([]string, len(cfg.Plugins))
	for i, p := range cfg.Plugins {
		names[i] = p.Name
	}
	d.ext = distributions.DeclaredExtensions(names)
	pools := t.subtable("pools")
	t.done()
	if pools == nil || len(pools.m) == 0 {
		d.addf("pools", "no pools are defined (add a [pools.NAME] table)")
		return cfg
	}
	for _, name := range order {
		pt := pools.subtable(name)
		if pt == nil {
			continue
		}
		cfg.Pools = append(cfg.Pools, d.pool(name, pt))
	}
	pools.done()
	d.crossCheck(cfg)
	return cfg
}

// crossCheck validates what involves several pools.
func (d *decoder) crossCheck(cfg *Config) {
	seen := map[string]string{}
	if cfg.Stats.Listen != "" {
		seen[cfg.Stats.Listen] = "stats.listen"
	}
	if a := cfg.Stats.MetricsListen; a != "" {
		if other, dup := seen[a]; dup && !strings.HasSuffix(a, ":0") {
			d.addf("stats.metrics_listen", "address %q is already used by %s", a, other)
		}
		seen[a] = "stats.metrics_listen"
	}
	for _, p := range cfg.Pools {
		key := "pools." + p.Name + ".listen"
		if p.Listen == "" || strings.HasSuffix(p.Listen, ":0") {
			// Port 0 lets the system pick a port, different every time.
			continue
		}
		if other, dup := seen[p.Listen]; dup {
			d.addf(key, "address %q is already used by %s", p.Listen, other)
			continue
		}
		seen[p.Listen] = key
	}
}

// decoder walks the decoded TOML tree, collecting every error with the
// dotted key it belongs to.
type decoder struct {
	path   string // the file being read
	nested bool   // reading the file a migration's from names
	errs   []string
	// warnings are "FILE: key: why" for what is accepted but ignored.
	warnings []string
	// ext stands in for the plugins the file declares, whose names are
	// valid hashes and distributions too.
	ext   *distributions.Extensions
	lines map[string]int // line of a key, where the format tells (YAML)
}

// plugin reads [plugins.NAME]. The executable must exist and be
// executable: a typo in a path is found by walnut -t, not at 3am.
func (d *decoder) plugin(name string, t *table) Plugin {
	p := Plugin{Name: name, Path: t.str("path", ""), Args: t.strings("args")}
	if kind := distributions.Builtin(name); kind != "" {
		// A plugin called like a builtin would change what the name
		// means to every pool, silently: refuse it.
		d.addf(t.path, "a plugin cannot be called %q: it is the name of a builtin %s (choose another name)", name, kind)
	}
	switch st, err := os.Stat(p.Path); {
	case p.Path == "":
		d.addf(t.key("path"), "missing: the plugin's executable")
	case err != nil:
		d.addf(t.key("path"), "%v", err)
	case st.IsDir() || st.Mode()&0o111 == 0:
		d.addf(t.key("path"), "%s is not an executable file", p.Path)
	}
	t.done()
	return p
}

func (d *decoder) addf(key, format string, args ...any) {
	msg := key + ": " + fmt.Sprintf(format, args...)
	for k := key; k != ""; k = parentKey(k) {
		if line, ok := d.lines[k]; ok {
			msg = strconv.Itoa(line) + ": " + msg
			break
		}
	}
	d.errs = append(d.errs, msg)
}

// parentKey drops the last element of a dotted key.
func parentKey(k string) string {
	if i := strings.LastIndexAny(k, ".["); i > 0 {
		return k[:i]
	}
	return ""
}

// warnf notes a key that is accepted but has no effect.
func (d *decoder) warnf(key, format string, args ...any) {
	d.warnings = append(d.warnings, d.path+": "+key+": "+fmt.Sprintf(format, args...))
}

func (d *decoder) check(key string, err error) {
	if err != nil {
		d.addf(key, "%v", err)
	}
}

func (d *decoder) err(path string) error {
	if len(d.errs) == 0 {
		return nil
	}
	lines := make([]string, len(d.errs))
	for i, e := range d.errs {
		sep := ": "
		if e != "" && e[0] >= '0' && e[0] <= '9' {
			sep = ":" // a line number: FILE:LINE: key: ...
		}
		lines[i] = path + sep + e
	}
	return errors.New(strings.Join(lines, "\n"))
}

// table is one TOML table being read; done reports its keys that no
// reader asked for, which is what makes decoding strict.
type table struct {
	d    *decoder
	path string
	m    map[string]any
	used map[string]bool
	// children are subtables a protocol read, checked with this one.
	children []*table
}

func (d *decoder) table(path string, m map[string]any) *table {
	return &table{d: d, path: path, m: m, used: map[string]bool{}}
}

func (t *table) key(k string) string {
	if t.path == "" {
		return k
	}
	return t.path + "." + k
}

func (t *table) get(k string) (any, bool) {
	t.used[k] = true
	v, ok := t.m[k]
	return v, ok
}

func (t *table) done() {
	for _, k := range t.unread() {
		t.d.addf(t.key(k), "unknown key")
	}
	for _, c := range t.children {
		c.done()
	}
}

// unread lists, in order, the keys no reader asked for.
func (t *table) unread() []string {
	var unknown []string
	for k := range t.m {
		if !t.used[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// markAll takes every key as known.
func (t *table) markAll() {
	for k := range t.m {
		t.used[k] = true
	}
}

func (t *table) subtable(k string) *table {
	m := value[map[string]any](t, k, nil, "a table (["+t.key(k)+"])")
	if m == nil {
		return nil
	}
	return t.d.table(t.key(k), m)
}

func (t *table) str(k, def string) string { return value(t, k, def, "a string") }

func (t *table) boolean(k string, def bool) bool { return value(t, k, def, "true or false") }

func (t *table) integer(k string, def int) int { return int(value(t, k, int64(def), "an integer")) }

func (t *table) strings(k string) []string {
	list := value[[]any](t, k, nil, "an array of strings")
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			t.d.addf(fmt.Sprintf("%s[%d]", t.key(k), i), "want a string, got %s", tomlType(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// value reads key k of t as a T: def when it is absent, and def with an
// error saying that it should be want when it has another type.
func value[T any](t *table, k string, def T, want string) T {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	x, ok := v.(T)
	if !ok {
		t.d.addf(t.key(k), "want %s, got %s", want, tomlType(v))
		return def
	}
	return x
}

func tomlType(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}
