package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/walnutproxy/walnut/protocols"
)

// EncodeTOML writes cfg as a walnut TOML file that Parse reads back into
// the same configuration: every section and every pool key, defaults
// included, in a fixed order, pools in cfg's order, and a pool's
// migration table when it has one. This is how a nutcracker YAML file
// becomes TOML (walnut convert). A migration's from is written as an
// absolute path, resolved against cfg.Path's directory as Parse resolved
// it: the TOML may be written anywhere.
func EncodeTOML(cfg *Config) ([]byte, error) {
	e := &encoder{}
	e.section("proxy")
	e.kv("workers", strconv.Itoa(cfg.Workers), "0: one event loop per two CPUs")
	e.kv("shutdown_timeout", duration(cfg.ShutdownTimeout), "")
	e.section("stats")
	e.kv("listen", e.str(cfg.Stats.Listen), "nutcracker's JSON stats; \"\": off")
	e.kv("metrics_listen", e.str(cfg.Stats.MetricsListen), "Prometheus /metrics; \"\": off")
	e.kv("pprof", strconv.FormatBool(cfg.Stats.Pprof), "")
	e.section("log")
	e.kv("level", e.str(cfg.Log.Level), "")
	e.kv("format", e.str(cfg.Log.Format), "")
	for _, p := range cfg.Plugins {
		e.section("plugins." + e.key(p.Name))
		e.kv("path", e.str(p.Path), "")
		e.kv("args", e.strs(p.Args), "")
	}
	for _, p := range cfg.Pools {
		e.pool(p)
		if p.Migration != nil {
			e.migration(cfg.Path, p)
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return []byte(e.b.String()), nil
}

type encoder struct {
	b   strings.Builder
	err error
}

func (e *encoder) pool(p *Pool) {
	e.section("pools." + e.key(p.Name))
	listen := p.Listen
	if p.ListenMode != 0 {
		listen = fmt.Sprintf("%s %#o", listen, p.ListenMode)
	}
	e.kv("listen", e.str(listen), "")
	e.kv("protocol", e.str(p.Protocol), "")
	e.kv("hash", e.str(p.Hash), "")
	e.kv("hash_tag", e.str(p.HashTag), "")
	e.kv("distribution", e.str(p.Distribution), "")
	timeout := ""
	if p.Timeout == 0 {
		timeout = "0s: no timeout"
	}
	e.kv("timeout", duration(p.Timeout), timeout)
	e.kv("backlog", strconv.Itoa(p.Backlog), "")
	e.kv("preconnect", strconv.FormatBool(p.Preconnect), "")
	if driver, err := protocols.Lookup(p.Protocol); err == nil {
		if enc, ok := driver.(protocols.OptionsEncoder); ok {
			enc.EncodeOptions(p.Options, e)
		}
	}
	e.kv("server_connections", strconv.Itoa(p.ServerConnections), "")
	e.kv("auto_eject_hosts", strconv.FormatBool(p.AutoEjectHosts), "")
	e.kv("server_failure_limit", strconv.Itoa(p.ServerFailureLimit), "")
	e.kv("server_retry_timeout", duration(p.ServerRetryTimeout), "")
	e.kv("dial_timeout", duration(p.DialTimeout), "")
	e.kv("health_check_interval", duration(p.HealthCheckInterval), "")
	e.kv("client_connections", strconv.Itoa(p.ClientConnections), "")
	e.kv("tcpkeepalive", strconv.FormatBool(p.TCPKeepalive), "")
	e.kv("client_timeout", duration(p.ClientTimeout), "")
	e.kv("max_request_size", strconv.Itoa(p.MaxRequestSize), "")
	e.kv("max_value_size", strconv.Itoa(p.MaxValueSize), "")
	e.kv("max_pipeline", strconv.Itoa(p.MaxPipeline), "")
	e.kv("max_client_output", strconv.Itoa(p.MaxClientOutput), "")
	e.kv("max_dedicated", strconv.Itoa(p.MaxDedicated), "")
	e.b.WriteString("servers = [\n")
	for _, s := range p.Servers {
		e.b.WriteString("  " + e.str(s.Spec) + ",\n")
	}
	e.b.WriteString("]\n")
}

// migration writes p's [pools.NAME.migration]: the file it came from
// (and the pool there, if named otherwise), or the old servers with the
// keys that place them.
func (e *encoder) migration(path string, p *Pool) {
	m := p.Migration
	e.section("pools." + e.key(p.Name) + ".migration")
	if m.From != "" {
		from := m.From
		if !filepath.IsAbs(from) {
			from = filepath.Join(filepath.Dir(path), from)
		}
		if abs, err := filepath.Abs(from); err == nil {
			from = abs
		}
		e.kv("from", e.str(from), "the configuration before the reshard")
		if m.Old != nil && m.Old.Name != p.Name {
			e.kv("pool", e.str(m.Old.Name), "")
		}
		return
	}
	if m.Old == nil {
		return
	}
	e.kv("hash", e.str(m.Old.Hash), "")
	e.kv("hash_tag", e.str(m.Old.HashTag), "")
	e.kv("distribution", e.str(m.Old.Distribution), "")
	e.b.WriteString("servers = [  # the servers before the reshard\n")
	for _, s := range m.Old.Servers {
		e.b.WriteString("  " + e.str(s.Spec) + ",\n")
	}
	e.b.WriteString("]\n")
}

// Set implements protocols.OptionWriter.
func (e *encoder) Set(key string, value any, comment string) {
	var v string
	switch x := value.(type) {
	case string:
		v = e.str(x)
	case bool:
		v = strconv.FormatBool(x)
	case int:
		v = strconv.Itoa(x)
	case time.Duration:
		v = duration(x)
	case []string:
		v = e.strs(x)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("%s: cannot write a %T", key, value)
		}
		return
	}
	e.kv(key, v, comment)
}

func (e *encoder) section(name string) {
	if e.b.Len() > 0 {
		e.b.WriteByte('\n')
	}
	e.b.WriteString("[" + name + "]\n")
}

func (e *encoder) kv(k, v, comment string) {
	e.b.WriteString(k + " = " + v)
	if comment != "" {
		e.b.WriteString("  # " + comment)
	}
	e.b.WriteByte('\n')
}

func (e *encoder) strs(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = e.str(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// str quotes s as a TOML basic string.
func (e *encoder) str(s string) string {
	if !utf8.ValidString(s) && e.err == nil {
		e.err = fmt.Errorf("%q is not valid UTF-8, which TOML cannot hold", s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// key is a table name element: bare when TOML allows, else quoted.
func (e *encoder) key(name string) string {
	if bareKey.MatchString(name) {
		return name
	}
	return e.str(name)
}

func duration(d time.Duration) string { return `"` + d.String() + `"` }
