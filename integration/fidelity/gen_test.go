package fidelity

import (
	"slices"
	"strconv"
	"strings"
)

// call is one case of a command: requests sent in order on a connection
// of its own, each reply compared.
type call struct {
	label string // what the case checks: "required", "all", "few"...
	cmds  [][]string
}

func (c call) String() string {
	var parts []string
	for _, a := range c.cmds {
		parts = append(parts, strings.Join(quoteArgs(a), " "))
	}
	return strings.Join(parts, "; ")
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\r\n\"") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// keyTypes picks the fixture key a command's key arguments name, by its
// ACL categories: a list command gets the list. The first category that
// matches wins (GEO commands are also sorted-set commands in Redis'
// eyes, and the geo key is a sorted set too).
var keyTypes = []struct{ acl, key string }{
	{"stream", "stream"},
	{"geo", "geo"},
	{"hyperloglog", "hll"},
	{"bitmap", "bitmap"},
	{"sortedset", "zset"},
	{"hash", "hash"},
	{"set", "set"},
	{"list", "list"},
	{"string", "string"},
}

// keyTypeOf is the fixture type a command works on; generic commands
// (TYPE, EXPIRE, DEL...) get the string.
func keyTypeOf(c *command) string {
	if t, ok := keyTypeOverride[c.name]; ok {
		return t
	}
	for _, kt := range keyTypes {
		if c.acl[kt.acl] {
			return kt.key
		}
	}
	return "string"
}

// keyTypeOverride: commands whose categories name several types, for
// the one their arguments fit best.
var keyTypeOverride = map[string]string{
	"sort":    "list", // @set @sortedset @list: the list holds numbers, which SORT sorts without ALPHA
	"sort_ro": "list",
}

// memberOf is an existing member of each fixture type's collection.
var memberOf = map[string]string{
	"string": "10", "list": "2", "hash": "f1", "set": "2", "zset": "m1", "geo": "Palermo",
	"stream": "1-0", "hll": "x", "bitmap": "1",
}

// argValues are the values of non-key arguments, by "command.argument"
// first, then by argument name and type ("count:integer"), then by type.
// They make calls Redis accepts, about the fixture's data, and harmless to
// the servers (a pause of 10ms, a client id nobody has, a port nobody
// listens on).
var argValues = map[string]string{
	// integers
	"count:integer": "2", "cursor:integer": "0", "db:integer": "1", "destination-db:integer": "1",
	"decrement:integer": "2", "increment:integer": "2", "end:integer": "-1", "start:integer": "0",
	"stop:integer": "-1", "offset:integer": "1", "index:integer": "0", "index1:integer": "0",
	"index2:integer": "1", "bit:integer": "1", "bits:integer": "64", "client-id:integer": "999999",
	"len:integer": "2", "num-matches:integer": "1", "rank:integer": "1", "limit:integer": "2",
	"milliseconds:integer": "100000", "seconds:integer": "100", "min-idle-time:integer": "0",
	"ms:integer": "0", "numreplicas:integer": "0", "timeout:integer": "10", "port:integer": "1",
	"protover:integer": "2", "slot:integer": "0", "ttl:integer": "0", "version:integer": "5",
	"weight:integer": "1", "value:integer": "1", "frequency:integer": "1", "entries_read:integer": "1",
	"entries_added:integer": "3", "start-slot:integer": "0", "end-slot:integer": "1",
	"config-epoch:integer": "1", "cluster_bus_port:integer": "1",
	"xread.milliseconds":      "100", // BLOCK: at most 100ms
	"xreadgroup.milliseconds": "100",
	"migrate.timeout":         "100",
	// doubles
	"timeout:double": "0.1", "score:double": "1.5", "increment:double": "1.5",
	"longitude:double": "15", "latitude:double": "37", "radius:double": "200",
	"width:double": "400", "height:double": "400", "min:double": "-inf", "max:double": "+inf",
	// times: 2100-01-01, far from now whenever the test runs
	"unix-time-seconds:unix-time": "4102444800", "unix-time-milliseconds:unix-time": "4102444800000",
	// strings
	"pattern:pattern": "*", "arg:string": "a1", "category:string": "string", "categoryname:string": "string",
	"channel:string": "ch1", "clientname:string": "fidelity", "command:string": "get",
	"command-name:string": "get", "connection-name:string": "fidelity", "consumer:string": "c1",
	"consumername:string": "c1", "encoding:string": "u8", "end:string": "+", "event:string": "command",
	"field:string": "f1", "function:string": "f1", "function-code:string": functionCode,
	"group:string": "g1", "groupname:string": "g1", "host:string": "127.0.0.1", "id:string": "1-0",
	"ip:string": "127.0.0.1", "ip:port:string": "127.0.0.1:1", "key:string": "{t}",
	"last-id:string": "100-0", "library-name:string": "fidelity", "library-name-pattern:string": "*",
	"max:string": "+", "max_deleted_entry_id:string": "0-0", "member1:string": "Palermo",
	"member2:string": "Catania", "message:string": "hello", "min:string": "-", "min-idle-time:string": "0",
	"module-name:string": "nosuchmodule", "name:string": "nosuchmodule", "node-id:string": "nosuchnode",
	"operation:string": "AND", "parameter:string": "maxmemory-policy", "password:string": "secret",
	"path:string": "/nonexistent/fidelity.so", "pivot:string": "2", "prefix:string": "p:",
	"replicationid:string": "?", "rule:string": "on", "script:string": script, "section:string": "server",
	"serialized-value:string": "notadump", "sha1:string": scriptSHA, "shardchannel:string": "ch1",
	"start:string": "-", "stop:string": "-1", "subcommand:string": "GETREG", "threshold:string": "100",
	"type:string": "string", "username:string": "default", "value:string": "v1", "yes/no:string": "yes",
	"element:string":       "2",
	"xadd.id":              "10-0", // after the fixture's entries
	"xgroup|create.id":     "0",
	"xgroup|setid.id":      "0",
	"xautoclaim.start":     "0-0",
	"zrange.start":         "0",
	"zrangestore.min":      "0",
	"zrangestore.max":      "-1",
	"pfadd.element":        "x",
	"acl|setuser.username": "fidelity", // a user of the test's own, deleted before every command
	"hset.value":           "1",
	"hsetnx.value":         "1",
	"hmset.value":          "1",
	"acl|dryrun.command":   "ping", // GET would want a key
}

// oneofChoice picks an alternative of a oneof by name where the first
// (or last) would not make a call the test can run.
var oneofChoice = map[string]string{
	"xadd.id_or_auto": "id", // "*" makes an ID of the clock, different on every server
}

// generator builds the calls of one command from its docs.
type generator struct {
	cmd     *command
	keyType string
	// all: every optional argument, two of every multiple one, the last
	// alternative of every oneof; otherwise the required arguments only,
	// one of each, the first alternative.
	all bool
	// first, if set, replaces the first key (not a destination).
	first string
	out   []string
	keys  int
	// numeric are the positions in out of integer and double values.
	numeric []int
}

func (g *generator) value(a arg) string {
	if v, ok := argValues[g.cmd.name+"."+a.name]; ok {
		return v
	}
	switch a.name {
	case "member":
		return memberOf[g.keyType]
	}
	if v, ok := argValues[a.name+":"+a.typ]; ok {
		return v
	}
	switch a.typ {
	case "integer":
		return "1"
	case "double":
		return "1.5"
	case "unix-time":
		return "4102444800"
	}
	return "v1"
}

// key names a fixture key: destinations get a new key, the first key
// the command's type, the next ones the second key of that type and a
// missing one.
func (g *generator) key(a arg) string {
	switch a.name {
	case "destination", "destkey", "dst", "newkey":
		return "{t}:dest"
	case "key2":
		return "{t}:" + g.keyType + "2"
	}
	g.keys++
	switch {
	case g.keys == 1 && g.first != "":
		return g.first
	case g.keys == 1:
		return "{t}:" + g.keyType
	case g.keys == 2:
		return "{t}:" + g.keyType + "2"
	}
	return "{t}:missing"
}

func (g *generator) args(as []arg) {
	for i := 0; i < len(as); i++ {
		a := as[i]
		if a.optional && !g.all {
			continue
		}
		if a.name == "numkeys" && a.typ == "integer" && i+1 < len(as) {
			// The number of keys the next argument brings: 0 when they
			// are optional (EVAL) and the call has the required ones only.
			at, before := len(g.out), g.keys
			g.out = append(g.out, "0")
			if a.token != "" {
				g.out = append(g.out[:at], a.token, "0")
				at++
			}
			g.one(as[i+1], false)
			g.out[at] = strconv.Itoa(g.keys - before)
			g.numeric = append(g.numeric, at)
			i++
			continue
		}
		g.one(a, false)
	}
}

// one emits a (its token too), once or, if multiple and all, twice;
// force emits an optional argument anyway.
func (g *generator) one(a arg, force bool) {
	if a.optional && !g.all && !force {
		return
	}
	n := 1
	if a.multiple && g.all {
		n = 2
	}
	for k := range n {
		if a.token != "" && (k == 0 || a.multipleToken) {
			g.out = append(g.out, a.token)
		}
		switch a.typ {
		case "pure-token":
		case "oneof":
			alt := g.choose(a)
			alt.optional = false
			g.one(alt, true)
		case "block":
			g.args(a.args)
		case "key":
			g.out = append(g.out, g.key(a))
		case "integer", "double":
			g.numeric = append(g.numeric, len(g.out))
			g.out = append(g.out, g.value(a))
		default:
			g.out = append(g.out, g.value(a))
		}
	}
}

func (g *generator) choose(a arg) arg {
	if name, ok := oneofChoice[g.cmd.name+"."+a.name]; ok {
		for _, alt := range a.args {
			if alt.name == name {
				return alt
			}
		}
	}
	if g.all {
		return a.args[len(a.args)-1]
	}
	return a.args[0]
}

// build returns the command's words followed by its generated
// arguments, and the positions of its numbers.
func build(c *command, all bool, first string) ([]string, []int, int) {
	g := &generator{cmd: c, keyType: keyTypeOf(c), all: all, first: first}
	g.out = c.words()
	g.args(c.args)
	return g.out, g.numeric, g.keys
}

// generate returns the calls the harness makes for c: one with the
// required arguments, one with all of them, the first with a missing
// key and with a key of another type, and invalid ones: too few
// arguments, too many (or an unknown token), a word where a number is
// wanted, an unknown subcommand of a container.
func generate(c *command) []call {
	var calls []call
	add := func(label string, args []string) {
		for _, have := range calls {
			if slices.Equal(have.cmds[0], args) {
				return
			}
		}
		calls = append(calls, call{label: label, cmds: [][]string{args}})
	}
	words := c.words()
	if c.container {
		add("few", words)
		add("nosuchsub", append(words, "NOSUCHSUB"))
		return calls
	}
	required, _, keys := build(c, false, "")
	all, numeric, _ := build(c, true, "")
	add("required", required)
	add("all", all)
	if keys > 0 {
		missing, _, _ := build(c, false, "{t}:missing")
		add("missing key", missing)
		other := "{t}:list"
		if keyTypeOf(c) == "list" {
			other = "{t}:hash"
		}
		wrong, _, _ := build(c, false, other)
		add("wrong type", wrong)
	}
	if c.arity > 1 || c.arity < -1 {
		if c.arity < 0 && len(required) > len(words) {
			add("few", required[:len(required)-1])
		}
		add("few", words)
	}
	if c.arity > 0 {
		add("many", append(slices.Clone(required), "extra"))
	} else {
		// In the tag, for commands that take it as one more key.
		add("nosuchtoken", append(slices.Clone(all), "{t}:NOSUCHTOKEN"))
	}
	if len(numeric) > 0 {
		bad := slices.Clone(all)
		bad[numeric[0]] = "notanumber"
		add("notanumber", bad)
	}
	return calls
}
