// Command gencommands writes protocols/redis/commands_gen.go, the Redis
// command table, from what a real redis-server reports through COMMAND:
// arity, command flags, ACL categories and key specs of every command and
// subcommand. Generating it keeps the codec's routing faithful to the
// server instead of to a hand-kept list that drifts with each release.
//
// By default it starts redis-server (from PATH, or -server) on a free
// loopback port and stops it afterwards; -addr uses a running server.
//
//	go run ./internal/gencommands -out commands_gen.go
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"sort"
	"strings"

	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

func main() {
	addr := flag.String("addr", "", "host:port of a running redis-server (default: start one)")
	server := flag.String("server", "", "redis-server binary to start (default: from PATH)")
	out := flag.String("out", "commands_gen.go", "file to write")
	flag.Parse()
	if err := run(*addr, *server, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencommands:", err)
		os.Exit(1)
	}
}

func run(addr, server, out string) error {
	if addr == "" {
		s, err := redisserver.Start(server)
		if err != nil {
			return err
		}
		defer s.Close()
		addr = s.Addr
	}
	src, err := Generate(addr)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// Generate asks the server at addr for its command table and returns the
// gofmt'ed source of commands_gen.go.
func Generate(addr string) ([]byte, error) {
	c, err := redisserver.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	version, err := serverVersion(c)
	if err != nil {
		return nil, err
	}
	reply, err := c.Do("COMMAND")
	if err != nil {
		return nil, err
	}
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("COMMAND: unexpected reply %v", reply)
	}
	var cmds []command
	for _, e := range list {
		if cmds, err = parseCommand(e, cmds); err != nil {
			return nil, err
		}
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return render(version, cmds)
}

func serverVersion(c *redisserver.Conn) (string, error) {
	reply, err := c.Do("INFO", "server")
	if err != nil {
		return "", err
	}
	s, _ := reply.(string)
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "", errors.New("INFO server: no redis_version")
}

type command struct {
	name      string
	arity     int64
	flags     []string
	acl       []string
	container bool
	specs     []keySpec
}

type keySpec struct {
	flags     []string
	begin     string // index, keyword, unknown
	index     int64
	keyword   string
	startFrom int64
	find      string // range, keynum, unknown
	lastKey   int64
	step      int64
	limit     int64
	keyNumIdx int64
	firstKey  int64
}

// parseCommand decodes one COMMAND entry, as documented for Redis 7:
// name, arity, flags, first key, last key, step, ACL categories, tips,
// key specs, subcommands (each an entry of the same shape).
func parseCommand(v any, cmds []command) ([]command, error) {
	a, ok := v.([]any)
	if !ok || len(a) < 10 {
		return nil, fmt.Errorf("COMMAND entry of unexpected shape: %v", v)
	}
	var c command
	c.name = strings.ToLower(str(a[0]))
	c.arity, _ = a[1].(int64)
	c.flags = strs(a[2])
	c.acl = strs(a[6])
	for _, s := range list(a[8]) {
		ks, err := parseKeySpec(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		c.specs = append(c.specs, ks)
	}
	subs := list(a[9])
	c.container = len(subs) > 0
	cmds = append(cmds, c)
	for _, s := range subs {
		var err error
		if cmds, err = parseCommand(s, cmds); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

func parseKeySpec(v any) (keySpec, error) {
	var ks keySpec
	m := pairs(v)
	ks.flags = strs(m["flags"])
	bs := pairs(m["begin_search"])
	bspec := pairs(bs["spec"])
	ks.begin = str(bs["type"])
	switch ks.begin {
	case "index":
		ks.index = num(bspec["index"])
	case "keyword":
		ks.keyword = str(bspec["keyword"])
		ks.startFrom = num(bspec["startfrom"])
	case "unknown":
	default:
		return ks, fmt.Errorf("unknown begin_search type %q", ks.begin)
	}
	fk := pairs(m["find_keys"])
	fspec := pairs(fk["spec"])
	ks.find = str(fk["type"])
	switch ks.find {
	case "range":
		ks.lastKey = num(fspec["lastkey"])
		ks.step = num(fspec["keystep"])
		ks.limit = num(fspec["limit"])
	case "keynum":
		ks.keyNumIdx = num(fspec["keynumidx"])
		ks.firstKey = num(fspec["firstkey"])
		ks.step = num(fspec["keystep"])
	case "unknown":
	default:
		return ks, fmt.Errorf("unknown find_keys type %q", ks.find)
	}
	return ks, nil
}

func list(v any) []any { a, _ := v.([]any); return a }
func str(v any) string { s, _ := v.(string); return s }
func num(v any) int64  { n, _ := v.(int64); return n }

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		out = append(out, str(e))
	}
	return out
}

// pairs reads a RESP2-flattened map (key, value, key, value...).
func pairs(v any) map[string]any {
	a := list(v)
	m := make(map[string]any, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		m[str(a[i])] = a[i+1]
	}
	return m
}

// The Go names of the server's flag words. An unknown word is an error,
// not something to drop: a new Redis flag may change routing, so it must
// be looked at (and added here and in commands.go) before regenerating.
var (
	cmdFlagNames = map[string]string{
		"write":             "flagWrite",
		"readonly":          "flagReadonly",
		"denyoom":           "flagDenyOOM",
		"module":            "flagModule",
		"admin":             "flagAdmin",
		"pubsub":            "flagPubSub",
		"noscript":          "flagNoScript",
		"blocking":          "flagBlocking",
		"loading":           "flagLoading",
		"stale":             "flagStale",
		"skip_monitor":      "flagSkipMonitor",
		"skip_slowlog":      "flagSkipSlowlog",
		"asking":            "flagAsking",
		"fast":              "flagFast",
		"no_auth":           "flagNoAuth",
		"may_replicate":     "flagMayReplicate",
		"sentinel":          "flagSentinel",
		"only_sentinel":     "flagOnlySentinel",
		"no_mandatory_keys": "flagNoMandatoryKeys",
		"protected":         "flagProtected",
		"no_async_loading":  "flagNoAsyncLoading",
		"no_multi":          "flagNoMulti",
		"movablekeys":       "flagMovableKeys",
		"allow_busy":        "flagAllowBusy",
	}
	aclNames = map[string]string{
		"@keyspace":    "aclKeyspace",
		"@read":        "aclRead",
		"@write":       "aclWrite",
		"@set":         "aclSet",
		"@sortedset":   "aclSortedSet",
		"@list":        "aclList",
		"@hash":        "aclHash",
		"@string":      "aclString",
		"@bitmap":      "aclBitmap",
		"@hyperloglog": "aclHyperLogLog",
		"@geo":         "aclGeo",
		"@stream":      "aclStream",
		"@pubsub":      "aclPubSub",
		"@admin":       "aclAdmin",
		"@fast":        "aclFast",
		"@slow":        "aclSlow",
		"@blocking":    "aclBlocking",
		"@dangerous":   "aclDangerous",
		"@connection":  "aclConnection",
		"@transaction": "aclTransaction",
		"@scripting":   "aclScripting",
	}
	keySpecFlagNames = map[string]string{
		"RO":             "ksRO",
		"RW":             "ksRW",
		"OW":             "ksOW",
		"RM":             "ksRM",
		"access":         "ksAccess",
		"update":         "ksUpdate",
		"insert":         "ksInsert",
		"delete":         "ksDelete",
		"not_key":        "ksNotKey",
		"incomplete":     "ksIncomplete",
		"variable_flags": "ksVariableFlags",
	}
)

func goFlags(what string, words []string, names map[string]string) (string, error) {
	if len(words) == 0 {
		return "0", nil
	}
	var ids []string
	for _, w := range words {
		id, ok := names[w]
		if !ok {
			return "", fmt.Errorf("unknown %s %q: add it to gencommands and commands.go", what, w)
		}
		ids = append(ids, id)
	}
	return strings.Join(ids, " | "), nil
}

func render(version string, cmds []command) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gencommands from Redis %s; DO NOT EDIT.\n\n", version)
	b.WriteString("package redis\n\n")
	fmt.Fprintf(&b, "// redisVersion is the server whose COMMAND reply commandTable copies.\n")
	fmt.Fprintf(&b, "const redisVersion = %q\n\n", version)
	b.WriteString("// commandTable is every command and subcommand (\"container|sub\") the\n")
	b.WriteString("// server reports, sorted by name.\n")
	b.WriteString("var commandTable = [...]commandInfo{\n")
	for _, c := range cmds {
		fl, err := goFlags("command flag", c.flags, cmdFlagNames)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		acl, err := goFlags("ACL category", c.acl, aclNames)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(&b, "\t{name: %q, arity: %d, flags: %s, acl: %s", c.name, c.arity, fl, acl)
		if c.container {
			b.WriteString(", container: true")
		}
		if len(c.specs) > 0 {
			b.WriteString(", keySpecs: []keySpec{\n")
			for _, ks := range c.specs {
				f, err := goFlags("key spec flag", ks.flags, keySpecFlagNames)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", c.name, err)
				}
				fmt.Fprintf(&b, "\t\t{flags: %s", f)
				switch ks.begin {
				case "index":
					fmt.Fprintf(&b, ", begin: beginIndex, index: %d", ks.index)
				case "keyword":
					fmt.Fprintf(&b, ", begin: beginKeyword, keyword: %q, startFrom: %d", ks.keyword, ks.startFrom)
				default:
					b.WriteString(", begin: beginUnknown")
				}
				switch ks.find {
				case "range":
					fmt.Fprintf(&b, ", find: findRange, lastKey: %d, step: %d, limit: %d", ks.lastKey, ks.step, ks.limit)
				case "keynum":
					fmt.Fprintf(&b, ", find: findKeynum, keyNumIdx: %d, firstKey: %d, step: %d", ks.keyNumIdx, ks.firstKey, ks.step)
				default:
					b.WriteString(", find: findUnknown")
				}
				b.WriteString("},\n")
			}
			b.WriteString("\t}")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gofmt: %w", err)
	}
	return src, nil
}
