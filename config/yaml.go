package config

import (
	"bytes"
	"fmt"
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
	return cfg, nil
}

// nutcracker's pool keys and how each becomes walnut's.
var yamlKeys = map[string]func(d *yamlTranslator, pool map[string]any, n *yaml.Node){
	"listen":       func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "listen", n) },
	"hash":         func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "hash", n) },
	"hash_tag":     func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "hash_tag", n) },
	"distribution": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.scalar(p, "distribution", n) },
	"redis_auth":   func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.redisAuth(p, n) },
	"timeout":      func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.millis(p, "timeout", n) },
	"server_retry_timeout": func(d *yamlTranslator, p map[string]any, n *yaml.Node) {
		d.millis(p, "server_retry_timeout", n)
	},
	"backlog":              func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "backlog", n) },
	"client_connections":   func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.clientConnections(p, n) },
	"redis_db":             func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "redis_db", n) },
	"server_connections":   func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "server_connections", n) },
	"server_failure_limit": func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.number(p, "server_failure_limit", n) },
	"preconnect":           func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.boolean(p, "preconnect", n) },
	"auto_eject_hosts":     func(d *yamlTranslator, p map[string]any, n *yaml.Node) { d.boolean(p, "auto_eject_hosts", n) },
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
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, yamlError(err))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no pools are defined", path)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, nil, fmt.Errorf("%s:%d: want pools (\"name:\" followed by the pool's keys)", path, root.Line)
	}
	pools := map[string]any{}
	var order []string
	tr := &yamlTranslator{lines: map[string]int{}, path: path}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		tr.prefix = "pools." + name + "."
		tr.lines["pools."+name] = k.Line
		if _, dup := pools[name]; dup {
			tr.errf(k, "", "pool defined twice")
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
		pools[name] = pool
		order = append(order, name)
	}
	if len(tr.errs) > 0 {
		return nil, nil, nil, fmt.Errorf("%s", strings.Join(tr.errs, "\n"))
	}
	return map[string]any{"pools": pools}, order, tr.lines, nil
}

func sortedYAMLKeys() []string {
	keys := make([]string, 0, len(yamlKeys))
	for k := range yamlKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func yamlError(err error) error {
	if te, ok := err.(*yaml.TypeError); ok {
		return fmt.Errorf("%s", strings.Join(te.Errors, "; "))
	}
	return err
}

func (d *yamlTranslator) str(key string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, key, "want a value, got a %s", nodeKind(n))
		return "", false
	}
	return n.Value, true
}

func (d *yamlTranslator) scalar(p map[string]any, key string, n *yaml.Node) {
	if s, ok := d.str(key, n); ok {
		p[key] = s
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

func (d *yamlTranslator) number(p map[string]any, key string, n *yaml.Node) {
	s, ok := d.str(key, n)
	if !ok {
		return
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		d.errf(n, key, "is not a number: %q", s)
		return
	}
	p[key] = v
}

// millis reads nutcracker's durations, in milliseconds.
func (d *yamlTranslator) millis(p map[string]any, key string, n *yaml.Node) {
	s, ok := d.str(key, n)
	if !ok {
		return
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		d.errf(n, key, "is not a number of milliseconds: %q", s)
		return
	}
	p[key] = strconv.FormatInt(v, 10) + "ms"
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

// clientConnections: nutcracker reads it but ignores it (it always
// uses no limit); walnut honours a positive value and keeps its own
// default for 0.
func (d *yamlTranslator) clientConnections(p map[string]any, n *yaml.Node) {
	s, ok := d.str("client_connections", n)
	if !ok {
		return
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		d.errf(n, "client_connections", "is not a number: %q", s)
		return
	}
	if v > 0 {
		p["client_connections"] = v
	}
}

func (d *yamlTranslator) servers(p map[string]any, n *yaml.Node) {
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
