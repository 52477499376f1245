package redis

// Routing policy: what walnut does with each command of commandTable.
//
// A sharding proxy can serve a command only when it knows which server
// owns the data the command touches, and when the command's effect is
// confined to that server and to the one request, or when it can ask
// every server and merge what they say. So, in order:
//
//  1. Commands about the connection are answered by walnut itself
//     (Local): PING, QUIT, ECHO, COMMAND (walnut's own table: COUNT,
//     INFO, DOCS, LIST, GETKEYS, where nutcracker forwards COMMAND to a
//     server), and, reading or changing the client's session (local.go):
//     SELECT (a database per client: the core SELECTs it ahead of the
//     client's requests on every connection they take, shared or
//     dedicated), AUTH and HELLO (the pool's password, and RESP2 or
//     RESP3), RESET (which also ends the client's transaction and
//     subscriptions), CLIENT SETNAME, GETNAME, ID and INFO, and INFO
//     (walnut's figures; INFO servers asks every server). LOLWUT, about
//     the server rather than data, goes where nutcracker sends it: to
//     the server that owns the key "placeholder".
//  2. MGET, MSET, DEL, UNLINK, TOUCH and EXISTS have independent keys:
//     they are Split into one part per server and the replies merged
//     (MGET's arrays back in the client's key order, MSET's +OK only if
//     every part said +OK, the others' integers summed).
//  3. Whole-keyspace commands (keyspace.go) go to every server in the
//     routing table (Broadcast) and their replies are merged: KEYS,
//     DBSIZE, RANDOMKEY, LASTSAVE, SCRIPT LOAD/EXISTS/FLUSH, and
//     FLUSHDB/FLUSHALL when the pool sets allow_flush. SCAN walks the
//     servers one after another with a cursor that names the server
//     (Targeted); TIME asks the first server. FUNCTION (functions.go)
//     keeps the same libraries on every server, as SCRIPT LOAD keeps
//     scripts, and walnut loads them again on a server that lost them;
//     SCRIPT KILL and FUNCTION KILL go to every server on connections of
//     their own.
//  4. Transactions, blocking commands and pub/sub are served on
//     dedicated server connections, the client's own (dedicated.go,
//     pubsub.go, protocols.Conn): MULTI, EXEC, DISCARD, WATCH and
//     UNWATCH pin the client to one connection to the server of the
//     transaction's first key, and every key of the transaction must
//     live there; blocking commands (BLPOP, BLMOVE, BZPOPMIN, BLMPOP,
//     XREAD and XREADGROUP with BLOCK...) each take a connection of
//     their own to their keys' server, so that they never stall the
//     shared pipeline; SUBSCRIBE and SSUBSCRIBE route each channel by
//     its hash, PSUBSCRIBE goes to every server, and PUBLISH and
//     SPUBLISH are forwarded by channel as if it were a key. WAIT
//     outside a transaction is answered :0: the client's writes went
//     over shared connections, whose replication walnut cannot vouch
//     for. These commands are served with the client's session
//     (dedicate), which also decides, inside MULTI or subscribed, what
//     happens to the others: inside MULTI, commands with keys are queued
//     on the transaction's server, walnut's own answers (1) are queued
//     by walnut and put into EXEC's reply, and what has no key (3),
//     pub/sub and the session changes SELECT, CLIENT SETNAME and HELLO
//     SETNAME are refused, aborting the transaction; subscribed, only
//     pub/sub, PING, QUIT and RESET are served, as Redis serves a RESP2
//     subscriber.
//  5. refusedCommands name keys but cannot be served: moving keys across
//     servers or databases behind the proxy's back (MIGRATE, MOVE, and
//     COPY with a DB option, through hookCopy), and Redis Cluster's
//     internal RESTORE-ASKING.
//  6. Other commands whose key specs find no key (SWAPDB, CONFIG,
//     CLUSTER, MONITOR, SYNC, the rest of CLIENT, SCRIPT DEBUG...),
//     other blocking and pub/sub commands, and admin commands, which act
//     on a server rather than on keys, are refused: there is no server
//     to send them to, or they would act on one server only.
//  7. Everything else that names keys is Forwarded to the server that
//     owns them (the core refuses it if its keys live on several
//     servers, naming a key that is not with the first). The keys come
//     from the command's key specs, interpreted generically (keys.go),
//     with the hooks below for what the specs cannot say. A request in
//     which they find no key (ZUNION 0 ..., LMPOP x ...) has an argument
//     error, which any server words: it is relayed to one
//     (oneserver.go). Scripts and functions without keys run on one
//     server when they cannot write (scripts.go).
//  8. A container's HELP is relayed to any server, whose text it is
//     (FUNCTION's and SCRIPT's go to the first, functions.go); PUBSUB's
//     introspection goes to every server and is merged (pubsubinfo.go).
//  9. On a pool of one server (Request.Servers == 1), what 1, 3 and 6
//     answer or refuse is forwarded to that server, but for the
//     session's commands, INFO, FUNCTION and SCRIPT LOAD/FLUSH/KILL
//     (which walnut remembers or fans out as on many servers), and
//     server administration (adminCommands, oneserver.go).
//
// A refused command gets "-ERR unsupported command 'NAME'" and the
// connection stays open; unknown commands and subcommands get Redis'
// own words.

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
	// LOLWUT: forwarded to the owner of the key "placeholder".
	actPlaceholder
	// Whole-keyspace commands (keyspace.go): sent to every server, or to
	// one by a cursor, and merged.
	actKeys
	actScan
	actDBSize
	actRandomKey
	actFlush
	actScriptLoad
	actScriptExists
	actScriptFlush
	actTime
	actLastSave
	// PUBSUB's introspection (pubsubinfo.go): sent to every server and
	// merged.
	actPubSubChannels
	actPubSubNumSub
	actPubSubNumPat
	// actRelay: answered the same by every server (HELP texts): sent to
	// any one, its reply passed on as it is (oneserver.go).
	actRelay
	// Functions and scripts kept on every server (functions.go).
	actFunctionLoad
	actFunctionDelete
	actFunctionFlush
	actFunctionRestore
	actFunctionList
	actFunctionDump
	actFunctionStats
	actFunctionHelp
	actScriptKill // SCRIPT KILL, FUNCTION KILL
	// Commands walnut answers from what it knows (local.go).
	actEcho
	actCommand
	actCommandCount
	actCommandInfo
	actCommandDocs
	actCommandList
	actCommandGetKeys
	// Commands that read or change the client's session, or the pool's
	// settings (local.go): answered by the codec after route.
	actSelect
	actAuth
	actHello
	actReset
	actClientSetName
	actClientGetName
	actClientID
	actClientInfo
	// CLIENT REPLY, UNBLOCK, and the subcommands about client-side
	// caching and eviction, answered for walnut's client (clientcmds.go).
	actClientReply
	actClientUnblock
	actClientLocal
	actInfo
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

// needsCodec reports whether a is answered by the codec's connCommand
// rather than by route alone.
func needsCodec(a action) bool { return (a >= actSelect && a <= actInfo) || a == actFlush }

// withSession reports whether a is one of the commands dedicate serves
// with the client's session (transactions, blocking commands, pub/sub).
func withSession(a action) bool { return a >= actMulti }

// hook is a command-specific check or key rule applied before
// forwarding, for what key specs do not express.
type hook uint8

const (
	hookNone hook = iota
	// hookEval: EVAL/EVALSHA(_RO) accept numkeys 0, which scripts.go
	// routes by the script's flags, and a numkeys beyond the arguments,
	// which Redis rejects with its own text, answered locally.
	hookEval
	// hookFcall: the same for FCALL(_RO), whose bad numkeys go to a
	// server: Redis looks the function up first.
	hookFcall
	// hookSort: SORT's STORE destination is a key its specs mark
	// "unknown"; walnut finds it as Redis' sortGetKeys does. BY and GET
	// patterns name keys that must live with the sorted key
	// (sortpatterns.go).
	hookSort
	// hookCopy: COPY ... DB n writes to another database.
	hookCopy
)

var (
	localCommands = map[string]action{
		"ping":            actPing,
		"quit":            actQuit,
		"echo":            actEcho,
		"command":         actCommand,
		"command|count":   actCommandCount,
		"command|info":    actCommandInfo,
		"command|docs":    actCommandDocs,
		"command|list":    actCommandList,
		"command|getkeys": actCommandGetKeys,
		"select":          actSelect,
		"auth":            actAuth,
		"hello":           actHello,
		"reset":           actReset,
		"client|setname":  actClientSetName,
		"client|getname":  actClientGetName,
		"client|id":       actClientID,
		"client|info":     actClientInfo,
		"info":            actInfo,

		"client|reply":   actClientReply,
		"client|unblock": actClientUnblock,
		// No tracking, no eviction: walnut's clients are not the
		// servers' (clientcmds.go).
		"client|trackinginfo": actClientLocal,
		"client|getredir":     actClientLocal,
		"client|caching":      actClientLocal,
		"client|no-evict":     actClientLocal,
		"client|tracking":     actClientLocal,
	}
	// keyspaceCommands act on every server's keys (or report on every
	// server): see keyspace.go.
	keyspaceCommands = map[string]action{
		"keys":          actKeys,
		"scan":          actScan,
		"dbsize":        actDBSize,
		"randomkey":     actRandomKey,
		"flushdb":       actFlush,
		"flushall":      actFlush,
		"script|load":   actScriptLoad,
		"script|exists": actScriptExists,
		"script|flush":  actScriptFlush,
		"time":          actTime,
		"lastsave":      actLastSave,
		// PUBSUB asks about every server's channels (pubsubinfo.go).
		"pubsub|channels":      actPubSubChannels,
		"pubsub|shardchannels": actPubSubChannels,
		"pubsub|numsub":        actPubSubNumSub,
		"pubsub|shardnumsub":   actPubSubNumSub,
		"pubsub|numpat":        actPubSubNumPat,
		// functions.go
		"function|load":    actFunctionLoad,
		"function|delete":  actFunctionDelete,
		"function|flush":   actFunctionFlush,
		"function|restore": actFunctionRestore,
		"function|list":    actFunctionList,
		"function|dump":    actFunctionDump,
		"function|stats":   actFunctionStats,
		"function|help":    actFunctionHelp,
		"function|kill":    actScriptKill,
		"script|kill":      actScriptKill,
		"script|help":      actFunctionHelp,
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
		"sort_ro":    hookSort, // its patterns; a STORE is the server's syntax error
		"copy":       hookCopy,
	}
)

// decide applies the rules above to one command.
func decide(c *commandInfo) action {
	if a, ok := localCommands[c.name]; ok {
		return a
	}
	if c.name == "lolwut" {
		return actPlaceholder
	}
	if a, ok := splitCommands[c.name]; ok {
		return a
	}
	if a, ok := keyspaceCommands[c.name]; ok {
		return a
	}
	if a, ok := dedicatedCommands[c.name]; ok {
		return a
	}
	if isHelp(c.name) && !isAdmin(c.name) {
		return actRelay
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
	// admin: server administration, refused on a pool of one server too
	// (oneserver.go).
	admin bool
}

// policies is indexed like commandTable.
var policies = func() (p [len(commandTable)]policy) {
	for i := range commandTable {
		c := &commandTable[i]
		p[i] = policy{act: decide(c), hook: hooks[c.name], step: 1, upper: upper(c.name),
			timeoutFirst: c.name == "blmpop" || c.name == "bzmpop", admin: isAdmin(c.name)}
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
