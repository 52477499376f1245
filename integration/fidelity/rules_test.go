package fidelity

import (
	"slices"
	"strings"
	"time"
)

// rule is how the harness runs and compares one command, where the
// generated calls and an exact comparison would not do. Every rule says
// why: a normalisation is there because two identical redis-servers
// answer differently (TestFidelity's calibration runs two of them
// against each other and fails if a rule is missing), and custom calls
// because the generated ones would harm the test's servers.
type rule struct {
	why string
	// norm rewrites every reply that is not an error before the
	// comparison; errors are always compared exactly.
	norm func(value) value
	// calls replace the generated ones; extra are made after them.
	calls, extra []call
	// marker: the command has any number of replies (pub/sub), or none
	// (CLIENT REPLY OFF): each request is followed by PING marker, whose
	// answer ends its replies.
	marker bool
	// timeout for a reply; 0 is defaultTimeout.
	timeout time.Duration
	// walk follows a SCAN cursor to its end and compares the keys seen.
	walk bool
	// skip: the command is not run at all (why says why).
	skip bool
	// settle: after each call, wait until no server runs a background
	// save, which the next call would otherwise race.
	settle bool
}

const defaultTimeout = 5 * time.Second

// rules is every exception to "generate the calls, compare exactly".
var rules = map[string]rule{
	// Two servers differ by nature.
	"time":                {why: "the clock: compared as an array of two bulk strings", norm: shape},
	"lastsave":            {why: "when each server last saved: compared as an integer", norm: kindOnly},
	"randomkey":           {why: "a random key: compared as a bulk string", norm: kindOnly},
	"keys":                {why: "a server's keyspace is a hash table seeded at random per process: compared as a set", norm: sorted},
	"scan":                {why: "the cursor is opaque and the order per-process random: the cursor is followed to its end and the keys compared as a set", walk: true, norm: sorted},
	"spop":                {why: "random members: compared by shape", norm: shape},
	"srandmember":         {why: "random members: compared by shape", norm: shape},
	"zrandmember":         {why: "random members: compared by shape", norm: shape},
	"hrandfield":          {why: "random fields: compared by shape", norm: shape},
	"info":                {why: "figures of each server: compared by section and field names, without the errors and commands each has counted", norm: infoFields},
	"client|list":         {why: "ids, addresses, ages of each server's clients: compared as a bulk string", norm: kindOnly},
	"client|info":         {why: "the client's id, address and age: compared as a bulk string", norm: kindOnly},
	"client|id":           {why: "each server numbers its clients: compared as an integer", norm: kindOnly},
	"object|idletime":     {why: "seconds since the key was read, which a slow run makes 1", norm: kindOnly},
	"acl|cat":             {why: "a category's commands come from a hash table seeded at random per process: compared as a set", norm: sorted},
	"acl|genpass":         {why: "random: compared by shape", norm: shape},
	"command":             {why: "the command table is a hash table seeded at random per process: compared as a set, subcommands too", norm: commandTable},
	"command|info":        {why: "the command table is a hash table seeded at random per process: compared as a set, subcommands too", norm: commandTable},
	"command|docs":        {why: "the command table is a hash table seeded at random per process: compared as a map, subcommands too", norm: commandDocs},
	"command|list":        {why: "the command table is a hash table seeded at random per process: compared as a set", norm: sorted},
	"latency|histogram":   {why: "each server's own counts and latencies: compared as an array", norm: kindOnly},
	"lolwut":              {why: "LOLWUT 5 and 6 draw at random: compared as a bulk string", norm: kindOnly},
	"memory|malloc-stats": {why: "the allocator's figures of each process: compared as a bulk string", norm: kindOnly},
	"memory|stats":        {why: "each process's memory figures: compared by shape", norm: shape},
	"memory|doctor":       {why: "the advice follows each process's memory figures: compared as a bulk string", norm: kindOnly},
	"slowlog|get":         {why: "what was slow depends on the run (PFSELFTEST always is): compared as an array", norm: kindOnly},
	"slowlog|len":         {why: "what was slow depends on the run: compared as an integer", norm: kindOnly},
	"xinfo|consumers":     {why: "milliseconds since each consumer was seen", norm: maskFields("idle")},
	"xinfo|stream":        {why: "FULL gives delivery and seen times (Unix milliseconds)", norm: maskClock},
	"xpending":            {why: "the extended form gives milliseconds since each entry was delivered", norm: pendingIdle},

	"hello": {why: "the client's id; RESP3 replies after HELLO 3 as well", norm: maskFields("id"),
		extra: []call{
			seq("resp3", []string{"HELLO", "3"}, []string{"HGETALL", "{t}:hash"}, []string{"SMEMBERS", "{t}:set"},
				[]string{"ZSCORE", "{t}:zset", "m1"}, []string{"ZRANGE", "{t}:zset", "0", "-1", "WITHSCORES"},
				[]string{"GET", "{t}:missing"}, []string{"LPOS", "{t}:list", "nosuch"}, []string{"SISMEMBER", "{t}:set", "1"},
				[]string{"XINFO", "STREAM", "{t}:stream"}, []string{"MGET", "{t}:string", "{t}:missing"},
				[]string{"HELLO", "2"}, []string{"HGETALL", "{t}:hash"}),
			seq("resp3 pub/sub", []string{"HELLO", "3"}, []string{"SUBSCRIBE", "ch1"}, []string{"PING"},
				[]string{"UNSUBSCRIBE", "ch1"}, []string{"PING"}),
		}},

	// Harmful in their generated form: safe calls instead.
	"shutdown": {why: "would stop the server: only an unknown option, which Redis refuses before acting",
		calls: calls([]string{"SHUTDOWN", "NOSUCH"})},
	"debug": {why: "DEBUG SEGFAULT, RELOAD and such would break the server (the test's servers refuse DEBUG anyway)",
		calls: calls([]string{"DEBUG", "HELP"}, []string{"DEBUG", "SLEEP", "0"}, []string{"DEBUG", "NOSUCH"}, []string{"DEBUG"})},
	"sync": {why: "the server would answer with an RDB file, not RESP, and stream its writes: only a wrong arity",
		calls: calls([]string{"SYNC", "extra"})},
	"psync": {why: "the server would answer with an RDB file, not RESP, and stream its writes: only wrong arities",
		calls: calls([]string{"PSYNC"}, []string{"PSYNC", "?"})},
	"replicaof": {why: "would make the server a replica: NO ONE (which it already is not) and invalid forms",
		calls: calls([]string{"REPLICAOF", "NO", "ONE"}, []string{"REPLICAOF", "NO"}, []string{"REPLICAOF", "127.0.0.1", "notaport"}, []string{"REPLICAOF"})},
	"slaveof": {why: "would make the server a replica: NO ONE (which it already is not) and invalid forms",
		calls: calls([]string{"SLAVEOF", "NO", "ONE"}, []string{"SLAVEOF", "NO"}, []string{"SLAVEOF", "127.0.0.1", "notaport"}, []string{"SLAVEOF"})},
	"failover": {why: "would hand the server's role over: only the forms refused without replicas",
		calls: calls([]string{"FAILOVER"}, []string{"FAILOVER", "ABORT"}, []string{"FAILOVER", "NOSUCH"})},
	"config|set": {why: "a value other than the server's own would change it for the commands after: only maxmemory-policy's default, and invalid forms",
		calls: calls([]string{"CONFIG", "SET", "maxmemory-policy", "noeviction"}, []string{"CONFIG", "SET", "maxmemory-policy", "nosuchpolicy"},
			[]string{"CONFIG", "SET", "nosuchparameter", "1"}, []string{"CONFIG", "SET", "maxmemory", "notanumber"},
			[]string{"CONFIG", "SET", "maxmemory-policy"}, []string{"CONFIG", "SET"})},
	"client|kill": {why: "would close the test's connections, or walnut's: only filters that match no client",
		calls: calls([]string{"CLIENT", "KILL", "127.0.0.1:1"}, []string{"CLIENT", "KILL", "ID", "999999"},
			[]string{"CLIENT", "KILL", "ID", "notanumber"}, []string{"CLIENT", "KILL", "NOSUCH", "x"}, []string{"CLIENT", "KILL"})},

	// Blocking commands: the generated calls find data; these wait out
	// their timeout (0.1s, or BLOCK 100).
	"blpop":      {why: "a call that waits for nothing", extra: calls([]string{"BLPOP", "{t}:missing", "0.1"})},
	"brpop":      {why: "a call that waits for nothing", extra: calls([]string{"BRPOP", "{t}:missing", "{t}:missing2", "0.1"})},
	"brpoplpush": {why: "a call that waits for nothing", extra: calls([]string{"BRPOPLPUSH", "{t}:missing", "{t}:dest", "0.1"})},
	"blmove":     {why: "a call that waits for nothing", extra: calls([]string{"BLMOVE", "{t}:missing", "{t}:dest", "LEFT", "RIGHT", "0.1"})},
	"blmpop":     {why: "a call that waits for nothing", extra: calls([]string{"BLMPOP", "0.1", "1", "{t}:missing", "LEFT"})},
	"bzpopmin":   {why: "a call that waits for nothing", extra: calls([]string{"BZPOPMIN", "{t}:missing", "0.1"})},
	"bzpopmax":   {why: "a call that waits for nothing", extra: calls([]string{"BZPOPMAX", "{t}:missing", "0.1"})},
	"bzmpop":     {why: "a call that waits for nothing", extra: calls([]string{"BZMPOP", "0.1", "1", "{t}:missing", "MIN"})},
	"xread":      {why: "a call that waits for nothing", extra: calls([]string{"XREAD", "BLOCK", "100", "STREAMS", "{t}:stream", "$"})},
	"xreadgroup": {why: "a call that waits for nothing, once the group has read everything",
		extra: []call{seq("waits", []string{"XREADGROUP", "GROUP", "g1", "c2", "STREAMS", "{t}:stream", ">"},
			[]string{"XREADGROUP", "GROUP", "g1", "c2", "BLOCK", "100", "STREAMS", "{t}:stream", ">"})}},

	// The commands walnut splits by server and merges: the generated
	// calls keep their keys under one tag, these spread them over the
	// servers of a pool (the fixture's {alpha}, {bravo}... keys).
	"mget": {why: "keys across the servers, merged back in order",
		extra: calls([]string{"MGET", "{alpha}:k", "{t}:string", "{bravo}:k", "{t}:missing", "{charlie}:k", "{delta}:k", "{alpha}:k"})},
	"mset": {why: "keys across the servers",
		extra: []call{seq("across tags", []string{"MSET", "{alpha}:k", "1", "{bravo}:k", "2", "{charlie}:k", "3", "{t}:new", "4", "{alpha}:k", "5"},
			[]string{"MGET", "{alpha}:k", "{bravo}:k", "{charlie}:k", "{t}:new"})}},
	"del":    {why: "keys across the servers, counts summed", extra: calls([]string{"DEL", "{alpha}:k", "{bravo}:k", "{charlie}:k", "{t}:missing", "{alpha}:k"})},
	"unlink": {why: "keys across the servers, counts summed", extra: calls([]string{"UNLINK", "{alpha}:k", "{bravo}:k", "{charlie}:k", "{t}:missing", "{alpha}:k"})},
	"exists": {why: "keys across the servers, counts summed (a key named twice counts twice)",
		extra: calls([]string{"EXISTS", "{alpha}:k", "{bravo}:k", "{charlie}:k", "{t}:missing", "{alpha}:k"})},
	"touch": {why: "keys across the servers, counts summed", extra: calls([]string{"TOUCH", "{alpha}:k", "{bravo}:k", "{charlie}:k", "{t}:missing", "{alpha}:k"})},

	// Background work.
	"bgsave":       {why: "forks a save: the next call waits for it to end, or it would race it", settle: true},
	"bgrewriteaof": {why: "forks a rewrite: the next call waits for it to end, or it would race it", settle: true},

	// Generated calls that say too little.
	"command|getkeys": {why: "its arguments are a command, which the docs do not describe",
		extra: calls([]string{"COMMAND", "GETKEYS", "SET", "{t}:a", "v"}, []string{"COMMAND", "GETKEYS", "MSET", "{t}:a", "1", "{t}:b", "2"},
			[]string{"COMMAND", "GETKEYS", "EVAL", "return 1", "0"}, []string{"COMMAND", "GETKEYS", "NOSUCH", "k"}, []string{"COMMAND", "GETKEYS", "GET"})},
	"command|getkeysandflags": {why: "its arguments are a command, which the docs do not describe",
		extra: calls([]string{"COMMAND", "GETKEYSANDFLAGS", "SET", "{t}:a", "v"}, []string{"COMMAND", "GETKEYSANDFLAGS", "LMOVE", "{t}:a", "{t}:b", "LEFT", "RIGHT"})},
	"restore": {why: "a real payload (DUMP of the string 10) as well as the generated invalid one",
		extra: calls([]string{"RESTORE", "{t}:new", "0", dumpOf10}, []string{"RESTORE", "{t}:string", "0", dumpOf10, "REPLACE"})},
	"function|restore": {why: "a real payload (FUNCTION DUMP of the test's library) as well as the generated invalid one",
		extra: calls([]string{"FUNCTION", "RESTORE", functionDump}, []string{"FUNCTION", "RESTORE", functionDump, "REPLACE"},
			[]string{"FUNCTION", "RESTORE", functionDump, "FLUSH"})},
	"restore-asking": {why: "a real payload (DUMP of the string 10) as well as the generated invalid one",
		extra: calls([]string{"RESTORE-ASKING", "{t}:new", "0", dumpOf10})},

	// Connection modes: each call has a connection of its own, closed
	// after it.
	"client|reply": {why: "OFF and SKIP silence replies: counted with PINGs after each request, OFF waits out a short timeout",
		marker: true, timeout: 500 * time.Millisecond,
		extra: calls([]string{"CLIENT", "REPLY", "OFF"}, []string{"CLIENT", "REPLY", "SKIP"})},
	"subscribe":    {why: "one reply per channel, and subscribed mode after", marker: true},
	"ssubscribe":   {why: "one reply per channel, and subscribed mode after", marker: true},
	"psubscribe":   {why: "one reply per pattern, and subscribed mode after", marker: true},
	"unsubscribe":  {why: "one reply per channel", marker: true},
	"sunsubscribe": {why: "one reply per channel", marker: true},
	"punsubscribe": {why: "one reply per pattern", marker: true},

	// Commands whose state lives across requests: sequences on one
	// connection as well as the generated calls.
	"multi": {why: "a transaction is its requests in sequence",
		extra: []call{seq("transaction", []string{"MULTI"}, []string{"INCR", "{t}:string"}, []string{"GET", "{t}:string"}, []string{"EXEC"})}},
	"exec": {why: "a transaction is its requests in sequence",
		extra: []call{seq("watched", []string{"WATCH", "{t}:string"}, []string{"MULTI"}, []string{"PING"}, []string{"EXEC"})}},
	"discard": {why: "a transaction is its requests in sequence",
		extra: []call{seq("discarded", []string{"MULTI"}, []string{"SET", "{t}:string", "x"}, []string{"DISCARD"}, []string{"GET", "{t}:string"})}},
	"watch": {why: "a transaction is its requests in sequence",
		extra: []call{seq("watch then change", []string{"WATCH", "{t}:string"}, []string{"SET", "{t}:string", "x"}, []string{"MULTI"}, []string{"GET", "{t}:string"}, []string{"EXEC"})}},
	"unwatch": {why: "a transaction is its requests in sequence",
		extra: []call{seq("unwatched", []string{"WATCH", "{t}:string"}, []string{"UNWATCH"}, []string{"SET", "{t}:string", "x"}, []string{"MULTI"}, []string{"GET", "{t}:string"}, []string{"EXEC"})}},
}

// calls makes one call of each request.
func calls(reqs ...[]string) []call {
	out := make([]call, len(reqs))
	for i, r := range reqs {
		out[i] = call{label: "safe", cmds: [][]string{r}}
	}
	return out
}

// seq is a call of several requests on one connection.
func seq(label string, reqs ...[]string) call { return call{label: label, cmds: reqs} }

// kindOnly keeps the reply's type alone.
func kindOnly(v value) value {
	return value{kind: v.kind, null: v.null, str: "…"}
}

// shape keeps types and lengths, dropping every scalar's content.
func shape(v value) value {
	if v.elems == nil {
		return kindOnly(v)
	}
	out := value{kind: v.kind, elems: make([]value, len(v.elems))}
	for i, e := range v.elems {
		out.elems[i] = shape(e)
	}
	return out
}

// sorted sorts an array's elements, and a SCAN reply's keys.
func sorted(v value) value {
	if v.kind == '*' && len(v.elems) == 2 && v.elems[0].kind == '$' && v.elems[1].kind == '*' {
		// [cursor, [keys]]
		out := v
		out.elems = []value{v.elems[0], {kind: '*', elems: sortValues(v.elems[1].elems)}}
		return out
	}
	if v.elems == nil {
		return v
	}
	out := v
	out.elems = sortValues(v.elems)
	return out
}

// maskFields blanks the values of the named fields of a map, RESP3's or
// RESP2's flat key-value array, at any depth.
func maskFields(names ...string) func(value) value {
	var f func(value) value
	f = func(v value) value {
		if v.elems == nil {
			return v
		}
		out := v
		out.elems = make([]value, len(v.elems))
		for i, e := range v.elems {
			if i%2 == 1 && (v.kind == '%' || v.kind == '*') && slices.Contains(names, v.elems[i-1].str) &&
				v.elems[i-1].kind != '*' {
				out.elems[i] = kindOnly(e)
				continue
			}
			out.elems[i] = f(e)
		}
		return out
	}
	return f
}

// infoFields keeps INFO's section headers and field names, leaving out
// the fields named after the errors and commands a server has seen,
// which depend on its history, not on what the client did.
func infoFields(v value) value {
	if v.kind != '$' && v.kind != '=' {
		return v
	}
	var names []string
	for _, line := range strings.Split(v.str, "\r\n") {
		if i := strings.IndexByte(line, ':'); i > 0 {
			line = line[:i]
		}
		history := false
		for _, p := range []string{"errorstat_", "cmdstat_", "latency_percentiles_usec_"} {
			history = history || strings.HasPrefix(line, p)
		}
		if line != "" && !history {
			names = append(names, line)
		}
	}
	return value{kind: v.kind, str: strings.Join(names, " ")}
}

// commandTable sorts COMMAND's entries by name, and each entry's
// subcommands (its tenth element).
func commandTable(v value) value {
	if v.elems == nil {
		return v
	}
	out := value{kind: v.kind, elems: make([]value, len(v.elems))}
	for i, e := range v.elems {
		if len(e.elems) >= 10 && e.elems[9].elems != nil {
			e = value{kind: e.kind, elems: slices.Clone(e.elems)}
			e.elems[9] = commandTable(e.elems[9])
		}
		out.elems[i] = e
	}
	out.elems = sortValues(out.elems)
	return out
}

// commandDocs sorts COMMAND DOCS' name-docs pairs by name, and each
// command's "subcommands" the same way.
func commandDocs(v value) value {
	if len(v.elems)%2 != 0 {
		return v
	}
	type pair struct{ k, v value }
	var ps []pair
	for i := 0; i < len(v.elems); i += 2 {
		doc := v.elems[i+1]
		if doc.elems != nil {
			doc = value{kind: doc.kind, elems: slices.Clone(doc.elems)}
			for j := 0; j+1 < len(doc.elems); j += 2 {
				if doc.elems[j].str == "subcommands" {
					doc.elems[j+1] = commandDocs(doc.elems[j+1])
				}
			}
		}
		ps = append(ps, pair{v.elems[i], doc})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k.String(), b.k.String()) })
	out := value{kind: v.kind, elems: make([]value, 0, len(v.elems))}
	for _, p := range ps {
		out.elems = append(out.elems, p.k, p.v)
	}
	return out
}

// maskClock blanks, at any depth, the integers that are Unix times in
// milliseconds (from 2001 to 2286).
func maskClock(v value) value {
	if v.kind == ':' && len(v.str) == 13 {
		return kindOnly(v)
	}
	if v.elems == nil {
		return v
	}
	out := v
	out.elems = make([]value, len(v.elems))
	for i, e := range v.elems {
		out.elems[i] = maskClock(e)
	}
	return out
}

// pendingIdle blanks the idle time of XPENDING's extended form: entries
// [id, consumer, idle, deliveries].
func pendingIdle(v value) value {
	if v.kind != '*' || len(v.elems) == 0 {
		return v
	}
	out := v
	out.elems = make([]value, len(v.elems))
	for i, e := range v.elems {
		if len(e.elems) != 4 || e.elems[2].kind != ':' {
			return v // the summary form
		}
		e = value{kind: e.kind, elems: slices.Clone(e.elems)}
		e.elems[2] = kindOnly(e.elems[2])
		out.elems[i] = e
	}
	return out
}
