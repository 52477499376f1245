package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nutcracker's YAML files work unchanged: each top-level key is a pool
// with nutcracker's keys, meanings and defaults. They are translated into
// the tree a TOML file decodes to, so that both formats share one set of
// checks, and errors name the line as well as the key.

// IsYAML tells a nutcracker YAML file from a TOML one: by its extension,
// else by its content (a line "name:" opening a mapping, and no TOML
// table header or "key = value" line).
func IsYAML(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		return true
	case ".toml":
		return false
	}
	yamlKey := regexp.MustCompile(`^[^\s#=\[][^=]*:\s*(#.*)?$`)
	tomlLine := regexp.MustCompile(`^\s*(\[[^\]]+\]|[A-Za-z0-9_."-]+\s*=)`)
	sawYAML := false
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		switch {
		case tomlLine.MatchString(line):
			return false
		case yamlKey.MatchString(line):
			sawYAML = true
		}
	}
	return sawYAML
}

// ParseYAML reads a nutcracker YAML configuration held in data.
func ParseYAML(path string, data []byte) (*Config, error) {
	tree, order, lines, err := yamlTree(path, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{lines: lines}
	cfg := d.config(path, tree, order)
	if err := d.err(path); err != nil {
		return nil, err
	}
	cfg.Warnings = d.warnings
	return cfg, nil
}

// nutcracker's pool keys and how each becomes walnut's.
var yamlKeys = map[string]func(d *yamlTranslator, pool map[string]any, n *yaml.Node){
	"listen":       func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.listen(p, n) },
	"hash":         func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "hash", n) },
	"hash_tag":     func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "hash_tag", n) },
	"distribution": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "distribution", n) },
	"redis_auth":   func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.redisAuth(p, n) },
	"timeout":      func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.millis(p, "timeout", n) },
	"server_retry_timeout": func(d *yamlTranslator, p map[string]any, n *yaml.Node) {
		d.millis(p, "server_retry_timeout", n)
	},
	// listen(2) takes a backlog of 0 as the smallest queue, one
	// connection; walnut's backlog is at least 1, which is the same.
	"backlog":            func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "backlog", n, 1) },
	"client_connections": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.clientConnections(p, n) },
	"redis_db":           func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.redisDB(p, n) },
	// 0 is refused by nutcracker too.
	"server_connections": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "server_connections", n, 0) },
	// nutcracker ejects when the failures reach the limit, so 0 ejects at
	// the first failure, as 1 does.
	"server_failure_limit": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "server_failure_limit", n, 1) },
	"preconnect":           func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.boolean(p, "preconnect", n) },
	"auto_eject_hosts":     func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.boolean(p, "auto_eject_hosts", n) },
	"tcpkeepalive":         func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.boolean(p, "tcpkeepalive", n) },
	"redis": func(d *yamlTranslator, p map[string]any, n *yaml.Node) {
		if b, ok := d.asBool("redis", n); ok && b {
			p["protocol"] = "redis"
		}
	},
	"servers": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.servers(p, n) },
}

type yamlTranslator struct {
	prefix string // "pools.NAME."
	lines  map[string]int
	errs   []string
	path   string
}

func (d *yamlTranslator) errf(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf("%s:%d: %s%s: %s", d.path, n.Line, d.prefix, key, fmt.Sprintf(format, args...)))
}

// yamlTree parses data and translates it into a TOML-shaped tree, the
// pools' order, and the line of every key.
func yamlTree(path string, data []byte) (map[string]any, []string, map[string]int, error) {
	// nutcracker's files often carry Windows line ends; the parser wants
	// none.
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if errs := yamlMarkers(path, data); len(errs) > 0 {
		return nil, nil, nil, errors.New(strings.Join(errs, "\n"))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, nil, yamlError(path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no pools are defined", path)
	}
	root := doc.Content[0]
	tr := &yamlTranslator{lines: map[string]int{}, path: path}
	// What nutcracker's loader refuses before it looks at a key: flow
	// style, anchors, aliases and tags, wherever they are.
	tr.yamlStyle(root, "")
	if len(tr.errs) > 0 {
		return nil, nil, nil, errors.New(strings.Join(tr.errs, "\n"))
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil, nil, fmt.Errorf("%s:%d: want pools (\"name:\" followed by the pool's keys)", path, root.Line)
	}
	pools := map[string]any{}
	var order []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		tr.prefix = "pools." + name + "."
		tr.lines["pools."+name] = k.Line
		if name == "" {
			tr.errs = append(tr.errs, fmt.Sprintf("%s:%d: a pool needs a name", path, k.Line))
			continue
		}
		if _, dup := pools[name]; dup {
			tr.errs = append(tr.errs, fmt.Sprintf("%s:%d: pools.%s: pool defined twice", path, k.Line, name))
			continue
		}
		if v.Kind != yaml.MappingNode {
			tr.errs = append(tr.errs, fmt.Sprintf("%s:%d: pools.%s: want the pool's keys (listen:, servers:, ...)", path, k.Line, name))
			continue
		}
		pool := map[string]any{"protocol": "memcached", "timeout": "0s"} // nutcracker's defaults
		seen := map[string]bool{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			pk, pv := v.Content[j], v.Content[j+1]
			tr.lines[tr.prefix+pk.Value] = pk.Line
			conv, ok := yamlKeys[pk.Value]
			if !ok {
				tr.errf(pk, pk.Value, "unknown key (nutcracker knows: %s)", strings.Join(sortedYAMLKeys(), ", "))
				continue
			}
			if seen[pk.Value] {
				tr.errf(pk, pk.Value, "is a duplicate")
				continue
			}
			seen[pk.Value] = true
			conv(tr, pool, pv)
		}
		tr.memcacheKeys(pool, v)
		pools[name] = pool
		order = append(order, name)
	}
	if len(tr.errs) > 0 {
		return nil, nil, nil, errors.New(strings.Join(tr.errs, "\n"))
	}
	return map[string]any{"pools": pools}, order, tr.lines, nil
}

// yamlMarkers refuses document markers and directives, which nutcracker
// refuses too: a file is one document, written without "---". Accepting
// them would make files that walnut reads and nutcracker does not, and
// a migration must be able to go back.
func yamlMarkers(path string, data []byte) []string {
	var errs []string
	for i, line := range strings.Split(string(data), "\n") {
		var what string
		switch {
		case isMarker(line, "---"):
			what = `a document start ("---")`
		case isMarker(line, "..."):
			what = `a document end ("...")`
		case strings.HasPrefix(line, "%"):
			what = `a directive ("%...")`
		default:
			continue
		}
		errs = append(errs, fmt.Sprintf("%s:%d: %s is not allowed: nutcracker reads one document, without markers or directives", path, i+1, what))
	}
	return errs
}

func isMarker(line, m string) bool {
	rest, ok := strings.CutPrefix(line, m)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// yamlStyle refuses, anywhere under n, the YAML that nutcracker's loader
// refuses: flow collections ([...], {...}), anchors, aliases and tags.
func (d *yamlTranslator) yamlStyle(n *yaml.Node, key string) {
	where := func() string {
		if key == "" {
			return fmt.Sprintf("%s:%d: ", d.path, n.Line)
		}
		return fmt.Sprintf("%s:%d: %s: ", d.path, n.Line, key)
	}
	switch {
	case n.Kind == yaml.AliasNode:
		d.errs = append(d.errs, where()+"aliases (*name) are not allowed: nutcracker refuses them")
		return
	case n.Anchor != "":
		d.errs = append(d.errs, where()+"anchors (&name) are not allowed: nutcracker refuses them")
	case n.Style&yaml.TaggedStyle != 0:
		d.errs = append(d.errs, where()+fmt.Sprintf("tags (%s) are not allowed: nutcracker refuses them", n.Tag))
	case n.Style&yaml.FlowStyle != 0 && n.Kind == yaml.SequenceNode:
		d.errs = append(d.errs, where()+"a flow list ([...]) is not allowed: nutcracker wants one \"- item\" per line")
		return
	case n.Style&yaml.FlowStyle != 0 && n.Kind == yaml.MappingNode:
		d.errs = append(d.errs, where()+"a flow mapping ({...}) is not allowed: nutcracker wants one \"key: value\" per line")
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if key != "" {
				k = key + "." + k
			} else {
				k = "pools." + k
			}
			d.yamlStyle(n.Content[i], k)
			d.yamlStyle(n.Content[i+1], k)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			d.yamlStyle(e, fmt.Sprintf("%s[%d]", key, i))
		}
	}
}

func sortedYAMLKeys() []string {
	keys := make([]string, 0, len(yamlKeys))
	for k := range yamlKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// yamlError turns the parser's "yaml: line 3: ..." into "FILE:3: ...".
func yamlError(path string, err error) error {
	msgs := []string{err.Error()}
	if te, ok := err.(*yaml.TypeError); ok {
		msgs = te.Errors
	}
	lineMsg := regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	for i, m := range msgs {
		if sub := lineMsg.FindStringSubmatch(m); sub != nil {
			msgs[i] = fmt.Sprintf("%s:%s: %s", path, sub[1], sub[2])
		} else {
			msgs[i] = path + ": " + m
		}
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// str returns a scalar's text, as nutcracker compares it: "true" and
// true, "400" and 400 are the same. An empty value is refused, as
// nutcracker does.
func (d *yamlTranslator) str(key string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, key, "want a value, got a %s", nodeKind(n))
		return "", false
	}
	if n.Value == "" {
		d.errf(n, key, "has no value")
		return "", false
	}
	return n.Value, true
}

func (d *yamlTranslator) scalar(p map[string]any, key string, n *yaml.Node) {
	if s, ok := d.str(key, n); ok {
		p[key] = s
	}
}

// memcacheKeys applies nutcracker's rules to the Redis keys of a pool
// that is not redis: it refuses redis_auth, and ignores redis_db.
func (d *yamlTranslator) memcacheKeys(p map[string]any, pool *yaml.Node) {
	if p["protocol"] == "redis" {
		return
	}
	if _, ok := p["redis_auth"]; ok {
		for i := 0; i+1 < len(pool.Content); i += 2 {
			if k := pool.Content[i]; k.Value == "redis_auth" {
				d.errf(k, "redis_auth", "only a redis pool takes a password (this pool's protocol is memcached)")
			}
		}
	}
	for _, k := range []string{"redis_auth", "password", "redis_db", "databases"} {
		delete(p, k)
	}
}

// redisDefaultDatabases is Redis' default databases setting.
const redisDefaultDatabases = 16

// redisDB reads nutcracker's redis_db. nutcracker knows nothing of the
// servers' databases and takes any number, which walnut's databases
// (16 unless set, and YAML cannot set it) must exceed: it is widened to
// fit, and a server without that database refuses the SELECT when
// walnut connects, as it would nutcracker's.
func (d *yamlTranslator) redisDB(p map[string]any, n *yaml.Node) {
	if v, ok := d.digits("redis_db", n); ok {
		p["redis_db"] = v
		if v >= redisDefaultDatabases {
			p["databases"] = v + 1
			d.lines[d.prefix+"databases"] = n.Line
		}
	}
}

// redisAuth reads nutcracker's redis_auth, which is both the password
// walnut gives the servers and the one clients must give walnut.
func (d *yamlTranslator) redisAuth(p map[string]any, n *yaml.Node) {
	if s, ok := d.str("redis_auth", n); ok {
		p["redis_auth"] = s
		p["password"] = s
		d.lines[d.prefix+"password"] = n.Line
	}
}

// maxNumber is the largest number nutcracker reads as written: its
// parser keeps an int, and larger values wrap around (99999999999
// becomes 1215752191). walnut refuses them rather than guess.
const maxNumber = 1<<31 - 1

// digits reads nutcracker's numbers: decimal digits only, no sign.
func (d *yamlTranslator) digits(key string, n *yaml.Node) (int64, bool) {
	s, ok := d.str(key, n)
	if !ok {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			d.errf(n, key, "is not a number (digits only): %q", s)
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > maxNumber {
		d.errf(n, key, "%s is too large (at most %d; nutcracker would wrap it around)", s, maxNumber)
		return 0, false
	}
	return v, true
}

// number reads a count; a value below floor becomes floor (what
// nutcracker makes of it is the same).
func (d *yamlTranslator) number(p map[string]any, key string, n *yaml.Node, floor int64) {
	if v, ok := d.digits(key, n); ok {
		p[key] = max(v, floor)
	}
}

// millis reads nutcracker's durations, in milliseconds.
func (d *yamlTranslator) millis(p map[string]any, key string, n *yaml.Node) {
	if v, ok := d.digits(key, n); ok {
		p[key] = strconv.FormatInt(v, 10) + "ms"
	}
}

func (d *yamlTranslator) asBool(key string, n *yaml.Node) (bool, bool) {
	s, ok := d.str(key, n)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.errf(n, key, "is not \"true\" or \"false\": %q", s)
	return false, false
}

func (d *yamlTranslator) boolean(p map[string]any, key string, n *yaml.Node) {
	if b, ok := d.asBool(key, n); ok {
		p[key] = b
	}
}

// listen reads nutcracker's listen: "/path [perm]" is left to walnut's
// parser; "host:port" is split at the last colon, as nutcracker does, so
// that "::1:22121" is IPv6 (walnut writes it "[::1]:22121"). nutcracker
// does not take brackets, nor port 0, which walnut would read as "any
// port": both are refused.
func (d *yamlTranslator) listen(p map[string]any, n *yaml.Node) {
	s, ok := d.str("listen", n)
	if !ok {
		return
	}
	if strings.HasPrefix(s, "/") {
		p["listen"] = s
		return
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		d.errf(n, "listen", "want \"host:port\" or \"/path/to.sock [permissions]\", got %q", s)
		return
	}
	host, port := s[:i], s[i+1:]
	switch {
	case strings.ContainsAny(host, "[]"):
		d.errf(n, "listen", "%q: nutcracker takes no brackets; write an IPv6 address as %s", s,
			strings.Trim(host, "[]")+":"+port)
		return
	case host == "":
		d.errf(n, "listen", "%q: missing host (0.0.0.0 for every interface)", s)
		return
	}
	if v, err := strconv.ParseUint(port, 10, 16); err != nil || v == 0 || port[0] == '+' {
		d.errf(n, "listen", "invalid port %q in %q (want 1 to 65535)", port, s)
		return
	}
	p["listen"] = net.JoinHostPort(host, port)
}

// clientConnections: nutcracker reads it but ignores it (it always
// uses no limit), though its README documents it as the limit it is.
// walnut honours a positive value and keeps its own default for 0.
func (d *yamlTranslator) clientConnections(p map[string]any, n *yaml.Node) {
	if v, ok := d.digits("client_connections", n); ok && v > 0 {
		p["client_connections"] = v
	}
}

func (d *yamlTranslator) servers(p map[string]any, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Value == "" {
		d.errf(n, "servers", "empty: every pool needs at least one server (\"- host:port:weight [name]\")")
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "servers", "want a list of \"- host:port:weight [name]\", got a %s", nodeKind(n))
		return
	}
	list := make([]any, 0, len(n.Content))
	for i, e := range n.Content {
		d.lines[fmt.Sprintf("%sservers[%d]", d.prefix, i)] = e.Line
		s, ok := d.str(fmt.Sprintf("servers[%d]", i), e)
		if !ok {
			continue
		}
		list = append(list, s)
	}
	p["servers"] = list
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value"
	}
}
