package config

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/protocols"
)

func (d *decoder) pool(name string, t *table) *Pool {
	p := &Pool{Name: name}
	p.Listen = t.str("listen", "")
	switch {
	case p.Listen == "":
		d.addf(t.key("listen"), "missing: every pool needs a listen address (host:port or a unix socket path)")
	default:
		var err error
		p.Listen, p.ListenMode, err = splitListen(p.Listen)
		if err == nil {
			err = validListen(p.Listen)
		}
		d.check(t.key("listen"), err)
	}

	p.Protocol = t.str("protocol", DefaultProtocol)
	driver, err := protocols.Lookup(p.Protocol)
	d.check(t.key("protocol"), err)
	p.Hash = t.str("hash", DefaultHash)
	if _, _, err := d.ext.ResolveHash(p.Hash); err != nil {
		d.check(t.key("hash"), err)
	}
	p.Distribution = t.str("distribution", DefaultDistribution)
	if _, err := d.ext.ResolveDistribution(p.Distribution); err != nil {
		d.check(t.key("distribution"), err)
	}
	p.HashTag = t.str("hash_tag", "")
	if p.HashTag != "" && len(p.HashTag) != 2 {
		d.addf(t.key("hash_tag"), "want exactly two characters (such as \"{}\"), got %q", p.HashTag)
	}

	p.Timeout = d.duration(t, "timeout", DefaultTimeout)
	p.ServerConnections = d.atLeast(t, "server_connections", DefaultServerConnections, 1)
	p.MaxRequestSize = d.size(t, "max_request_size", DefaultMaxRequestSize)
	p.MaxValueSize = d.size(t, "max_value_size", p.MaxRequestSize)
	p.MaxPipeline = d.atLeast(t, "max_pipeline", DefaultMaxPipeline, 1)
	p.MaxClientOutput = d.size(t, "max_client_output", DefaultMaxClientOutput)
	p.ClientConnections = d.atLeast(t, "client_connections", DefaultClientConnections, 1)
	p.ClientTimeout = d.duration(t, "client_timeout", 0)
	p.MaxDedicated = d.atLeast(t, "max_dedicated", DefaultMaxDedicated, 1)

	p.AutoEjectHosts = t.boolean("auto_eject_hosts", false)
	p.ServerFailureLimit = d.atLeast(t, "server_failure_limit", DefaultServerFailureLimit, 1)
	p.ServerRetryTimeout = d.duration(t, "server_retry_timeout", DefaultServerRetryTimeout)
	p.Preconnect = t.boolean("preconnect", false)
	p.DialTimeout = d.duration(t, "dial_timeout", DefaultDialTimeout)
	if p.DialTimeout == 0 {
		d.addf(t.key("dial_timeout"), "want a positive duration such as \"1s\"")
	}
	p.HealthCheckInterval = d.duration(t, "health_check_interval", 0)
	p.Backlog = d.atLeast(t, "backlog", DefaultBacklog, 1)
	p.TCPKeepalive = t.boolean("tcpkeepalive", false)

	p.Servers = d.servers(t)
	if driver != nil {
		p.Options = d.protocolOptions(p.Protocol, driver, t)
	}
	p.Migration = d.migration(p, t)
	if driver == nil {
		// An unknown protocol is reported; what its keys would be is
		// anyone's guess.
		t.markAll()
	}
	t.done()
	return p
}

// servers reads a server list, in nutcracker's order, with unique names.
func (d *decoder) servers(t *table) []Server {
	var servers []Server
	specs := t.strings("servers")
	if _, ok := t.m["servers"]; !ok {
		d.addf(t.key("servers"), "missing: every pool needs at least one server (\"host:port:weight [name]\")")
	} else if len(specs) == 0 {
		d.addf(t.key("servers"), "empty: every pool needs at least one server")
	}
	for i, spec := range specs {
		s, err := ParseServer(spec)
		if err != nil {
			d.addf(fmt.Sprintf("%s[%d]", t.key("servers"), i), "%v", err)
			continue
		}
		servers = append(servers, s)
	}
	SortServers(servers)
	for i := 1; i < len(servers); i++ {
		if servers[i].Name == servers[i-1].Name {
			d.addf(t.key("servers"), "servers %q and %q have the same name %q; names must be unique, since placement hashes them",
				servers[i-1].Spec, servers[i].Spec, servers[i].Name)
		}
	}
	return servers
}

// atLeast reads an integer that must be min or more.
func (d *decoder) atLeast(t *table, k string, def, min int) int {
	n := t.integer(k, def)
	if n < min {
		d.addf(t.key(k), "want at least %d, got %d", min, n)
		return def
	}
	return n
}

func (d *decoder) duration(t *table, k string, def time.Duration) time.Duration {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		d.addf(t.key(k), "want a duration string such as \"400ms\" or \"2s\", got %s", tomlType(v))
		return def
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		d.addf(t.key(k), "want a duration such as \"400ms\" or \"2s\", got %q", s)
		return def
	}
	return dur
}

// size reads a byte count: an integer, or a string with a unit ("16MiB").
func (d *decoder) size(t *table, k string, def int) int {
	v, ok := t.get(k)
	if !ok {
		return def
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case string:
		var err error
		if n, err = ParseSize(x); err != nil {
			d.addf(t.key(k), "%v", err)
			return def
		}
	default:
		d.addf(t.key(k), "want a size (bytes, or a string such as \"16MiB\"), got %s", tomlType(v))
		return def
	}
	if n < 1 || n > 1<<40 {
		d.addf(t.key(k), "want a size between 1 byte and 1TiB, got %d", n)
		return def
	}
	return int(n)
}

// ParseSize reads "512", "64KiB", "16MiB", "1GiB" (KB/MB/GB are read as
// powers of 1024 too, as memcached and Redis do).
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 1048576 or \"16MiB\", got %q", s)
	}
	return n * mult, nil
}

// splitListen separates nutcracker's "/path/to.sock 0666" into the path
// and the socket's permissions.
func splitListen(s string) (string, uint32, error) {
	if !strings.HasPrefix(s, "/") {
		return s, 0, nil
	}
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s, 0, nil
	}
	mode, err := strconv.ParseUint(s[i+1:], 8, 32)
	if err != nil || mode > 0o777 {
		return s, 0, fmt.Errorf("invalid file permission %q in \"socket_path permission\" (want octal, such as 0666)", s[i+1:])
	}
	return strings.TrimRight(s[:i], " "), uint32(mode), nil
}

// validListen checks a listen address: host:port or a unix socket path.
// A host name must resolve, as nutcracker checks at the same point: a
// typo is found by walnut -t rather than at the next restart.
func validListen(addr string) error {
	if strings.HasPrefix(addr, "/") {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port or a unix socket path, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid port %q in %q", port, addr)
	}
	if host == "" {
		return fmt.Errorf("missing host in %q (use 0.0.0.0 for every interface)", addr)
	}
	if net.ParseIP(host) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return fmt.Errorf("cannot resolve %q: %v", host, err)
		}
	}
	return nil
}

// resolveTimeout bounds the name resolution of a listen address.
const resolveTimeout = 5 * time.Second

// ParseServer reads nutcracker's server syntax, "host:port:weight [name]"
// or "/path/to/socket:weight [name]", splitting from the end as nutcracker
// does: the name follows the last space (so it has none), the weight the
// last colon before it, the port the colon before that, so that an IPv6
// address may be written as nutcracker takes it ("::1:6379:1") or in
// brackets ("[::1]:6379:1").
func ParseServer(spec string) (Server, error) {
	s := Server{Spec: spec}
	body, name := spec, ""
	if i := strings.LastIndexByte(spec, ' '); i >= 0 {
		body, name = spec[:i], spec[i+1:]
		if name == "" {
			return s, fmt.Errorf("%q: empty name after the space", spec)
		}
	}
	i := strings.LastIndexByte(body, ':')
	if i < 0 {
		return s, fmt.Errorf("%q: want \"host:port:weight [name]\" or \"/path/socket:weight [name]\"", spec)
	}
	addr, weight := body[:i], body[i+1:]
	if strings.Contains(weight, " ") {
		return s, fmt.Errorf("%q: a server name cannot contain spaces, nor follow more than one space", spec)
	}
	w, ok := digits(weight)
	if !ok || w < 1 || w > maxNumber {
		return s, fmt.Errorf("%q: weight %q must be a whole number from 1 to %d", spec, weight, maxNumber)
	}
	s.Weight = int(w)
	if strings.HasPrefix(addr, "/") {
		s.Addr = addr
	} else {
		host, port, err := net.SplitHostPort(addr)
		if err != nil && !strings.Contains(addr, "[") {
			// nutcracker's unbracketed IPv6 ("::1:6379"): the port is
			// after the last colon.
			if j := strings.LastIndexByte(addr, ':'); j >= 0 {
				host, port, err = addr[:j], addr[j+1:], nil
			}
		}
		if err != nil {
			return s, fmt.Errorf("%q: want \"host:port:weight [name]\"", spec)
		}
		if host == "" {
			return s, fmt.Errorf("%q: missing host", spec)
		}
		if p, ok := digits(port); !ok || p == 0 || p > 65535 {
			return s, fmt.Errorf("%q: invalid port %q", spec, port)
		}
		s.Addr = net.JoinHostPort(host, port)
	}
	s.Name = name
	if s.Name == "" {
		// From the address as written, as nutcracker names it:
		// "::1:6379", not "[::1]:6379".
		s.Name = distributions.DefaultName(addr)
	}
	return s, nil
}

// digits reads a number written in decimal digits only (no sign, no
// spaces), as nutcracker does.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// SortServers puts servers in nutcracker's order, which modula placement
// depends on: nutcracker sorts a pool's servers by name when it checks
// them for duplicates and keeps that order.
func SortServers(servers []Server) {
	slices.SortStableFunc(servers, func(a, b Server) int { return distributions.CompareNames(a.Name, b.Name) })
}
