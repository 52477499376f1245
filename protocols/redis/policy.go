package redis

import "strings"

// Routing policy: what walnut does with each command of commandTable.
//
// A sharding proxy can serve a command only when it knows which server
// owns the data the command touches, and when the command's effect is
// confined to that server and to the one request. So, in order:
//
//  1. PING and QUIT are answered by walnut itself (Local). COMMAND (with
//     its subcommands) and LOLWUT, which are about the server rather
//     than data, go where nutcracker sends them: to the server that owns
//     the key "placeholder".
//  2. MGET, MSET, DEL, UNLINK, TOUCH and EXISTS have independent keys:
//     they are Split into one part per server and the replies merged
//     (MGET's arrays back in the client's key order, MSET's +OK only if
//     every part said +OK, the others' integers summed).
//  3. refusedCommands name keys but cannot be served: moving keys across
//     servers or databases behind the proxy's back (MIGRATE, MOVE, and
//     COPY with a DB option, through hookCopy), and Redis Cluster's
//     internal RESTORE-ASKING.
//  4. Commands whose key specs find no key (KEYS, SCAN, SELECT, INFO,
//     DBSIZE, FLUSHALL, CONFIG...) are refused: there is no
//     server to send them to, or they would act on one server only.
//  5. Transactions, blocking commands and pub/sub are served on
//     dedicated server connections (see dedicated.go and pubsub.go, and
//     protocols.Conn): MULTI, EXEC, DISCARD, WATCH and UNWATCH pin the
//     client to one connection to the server of the transaction's first
//     key, and every key of the transaction must live there; blocking
//     commands (BLPOP, BLMOVE, BZPOPMIN, BLMPOP, XREAD and XREADGROUP
//     with BLOCK...) each take a connection of their own to their keys'
//     server, so that they never stall the shared pipeline; SUBSCRIBE
//     and SSUBSCRIBE route each channel by its hash, PSUBSCRIBE goes to
//     every server, and PUBLISH and SPUBLISH are forwarded by channel as
//     if it were a key. WAIT outside a transaction is answered :0: the
//     client's writes went over shared connections, whose replication
//     walnut cannot vouch for. Other blocking and pub/sub commands
//     (PUBSUB ...), and admin commands, which act on a server rather
//     than on keys, are refused.
//  6. Everything else that names keys is Forwarded to the server that
//     owns them (the core refuses it if its keys live on several
//     servers). The keys come from the command's key specs, interpreted
//     generically (keys.go), with the hooks below for what the specs
//     cannot say. A request in which they find no key (EVAL with
//     numkeys 0, ZUNION 0 ...) is answered with an error: there is no
//     server to send it to.
//
// A refused command gets "-ERR unsupported command 'NAME'" and the
// connection stays open; unknown commands get the same.

// action is what the codec does with a request for a command.
type action uint8

const (
	actUnsupported action = iota
	actForward
	actMGet
	actMSet
	actSumInt
	actPing
	actQuit
	actPlaceholder
	// The commands below are served with the client's session
	// (dedicate): whatever route makes of them is provisional.
	actMulti
	actExec
	actDiscard
	actWatch
	actUnwatch
	actWait
	actSubscribe    // SUBSCRIBE, SSUBSCRIBE
	actUnsubscribe  // UNSUBSCRIBE, SUNSUBSCRIBE
	actPSubscribe   // PSUBSCRIBE
	actPUnsubscribe // PUNSUBSCRIBE
	// Served without a session too.
	actBlock   // a blocking command: its timeout is its last argument, or its first (BLMPOP, BZMPOP)
	actXRead   // XREAD, XREADGROUP: blocking with BLOCK
	actPublish // PUBLISH, SPUBLISH: forwarded by channel
)

// hook is a command-specific check or key rule applied before
// forwarding, for what key specs do not express.
type hook uint8

const (
	hookNone hook = iota
	// hookEval: EVAL/EVALSHA(_RO) accept numkeys 0, which walnut cannot
	// route, and a numkeys beyond the arguments, which Redis rejects
	// with its own text: both are answered locally.
	hookEval
	// hookFcall: the same for FCALL(_RO), whose bad-numkeys text differs.
	hookFcall
	// hookSort: SORT's STORE destination is a key its specs mark
	// "unknown"; walnut finds it as Redis' sortGetKeys does. (BY and GET
	// patterns name keys walnut cannot know: they read whatever the
	// owning server has, as in twemproxy.)
	hookSort
	// hookCopy: COPY ... DB n writes to another database.
	hookCopy
)

var (
	localCommands = map[string]action{
		"ping": actPing,
		"quit": actQuit,
	}
	splitCommands = map[string]action{
		"mget":   actMGet,
		"mset":   actMSet,
		"del":    actSumInt,
		"unlink": actSumInt,
		"touch":  actSumInt,
		"exists": actSumInt,
	}
	dedicatedCommands = map[string]action{
		"multi":        actMulti,
		"exec":         actExec,
		"discard":      actDiscard,
		"watch":        actWatch,
		"unwatch":      actUnwatch,
		"wait":         actWait,
		"blpop":        actBlock,
		"brpop":        actBlock,
		"brpoplpush":   actBlock,
		"blmove":       actBlock,
		"blmpop":       actBlock,
		"bzpopmin":     actBlock,
		"bzpopmax":     actBlock,
		"bzmpop":       actBlock,
		"xread":        actXRead,
		"xreadgroup":   actXRead,
		"subscribe":    actSubscribe,
		"ssubscribe":   actSubscribe,
		"unsubscribe":  actUnsubscribe,
		"sunsubscribe": actUnsubscribe,
		"psubscribe":   actPSubscribe,
		"punsubscribe": actPUnsubscribe,
		"publish":      actPublish,
		"spublish":     actPublish,
	}
	refusedCommands = map[string]bool{
		"migrate":        true,
		"move":           true,
		"restore-asking": true,
	}
	hooks = map[string]hook{
		"eval":       hookEval,
		"evalsha":    hookEval,
		"eval_ro":    hookEval,
		"evalsha_ro": hookEval,
		"fcall":      hookFcall,
		"fcall_ro":   hookFcall,
		"sort":       hookSort,
		"copy":       hookCopy,
	}
)

// decide applies the rules above to one command.
func decide(c *commandInfo) action {
	if a, ok := localCommands[c.name]; ok {
		return a
	}
	if c.name == "lolwut" || c.name == "command" || strings.HasPrefix(c.name, "command|") {
		return actPlaceholder
	}
	if a, ok := splitCommands[c.name]; ok {
		return a
	}
	if a, ok := dedicatedCommands[c.name]; ok {
		return a
	}
	switch {
	case refusedCommands[c.name], !namesKeys(c):
		return actUnsupported
	case c.flags&(flagBlocking|flagPubSub|flagAdmin|flagAsking|flagOnlySentinel) != 0:
		return actUnsupported
	case c.acl&(aclTransaction|aclPubSub|aclBlocking) != 0:
		return actUnsupported
	}
	return actForward
}

// namesKeys reports whether any key spec of c finds real keys (SPUBLISH's
// shard channel is a "not_key" spec).
func namesKeys(c *commandInfo) bool {
	for i := range c.keySpecs {
		if c.keySpecs[i].flags&ksNotKey == 0 {
			return true
		}
	}
	return false
}

// policy is decide's verdict for one command, with what the hot path
// needs precomputed.
type policy struct {
	act  action
	hook hook
	// step is the distance between keys of a Split command (2 for MSET's
	// key/value pairs); its keys start at argument 1.
	step int
	// single, if not 0, is the position of the command's only key, for
	// the many commands that have one key at a fixed place (GET, SET,
	// HSET...): it saves interpreting the key spec.
	single int
	// upper is the name for messages that quote it the way Redis does
	// ("walnut cannot route EVAL...").
	upper string
	// anySub, for a container, says whether some subcommand is served,
	// so that a bare "OBJECT" gets the arity error rather than
	// "unsupported".
	anySub bool
	// timeoutFirst: a blocking command whose timeout is its first
	// argument rather than its last.
	timeoutFirst bool
}

// policies is indexed like commandTable.
var policies = func() (p [len(commandTable)]policy) {
	for i := range commandTable {
		c := &commandTable[i]
		p[i] = policy{act: decide(c), hook: hooks[c.name], step: 1, upper: upper(c.name),
			timeoutFirst: c.name == "blmpop" || c.name == "bzmpop"}
		minArgs := int(c.arity)
		if minArgs < 0 {
			minArgs = -minArgs
		}
		// The arity check, done first, guarantees the key is there.
		if ks := c.keySpecs; len(ks) == 1 && ks[0].flags&ksNotKey == 0 && ks[0].begin == beginIndex &&
			ks[0].find == findRange && ks[0].lastKey == 0 && int(ks[0].index) < minArgs {
			p[i].single = int(ks[0].index)
		}
		switch p[i].act {
		case actMGet, actMSet, actSumInt:
			// AppendRequest rebuilds parts from Args[1+k*step]; a Redis
			// release that changed these commands' key layout must not
			// silently break that.
			ks := c.keySpecs
			if len(ks) != 1 || ks[0].begin != beginIndex || ks[0].index != 1 ||
				ks[0].find != findRange || ks[0].lastKey != -1 || ks[0].limit != 0 || ks[0].step < 1 {
				panic("redis: split command " + c.name + " has an unexpected key spec")
			}
			p[i].step = int(ks[0].step)
		}
	}
	for i := range commandTable {
		if j := containerOf(i); j >= 0 && p[i].act != actUnsupported {
			p[j].anySub = true
		}
	}
	return p
}()

// containerOf returns the commandTable index of i's container, or -1.
func containerOf(i int) int {
	name := commandTable[i].name
	for k := 0; k < len(name); k++ {
		if name[k] == '|' {
			return find(name[:k])
		}
	}
	return -1
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
