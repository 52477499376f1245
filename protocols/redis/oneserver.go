package redis

import (
	"strings"

	"github.com/walnutproxy/walnut/protocols"
)

// A pool of one server behaves as that server (issue 16): what walnut
// refuses across servers, or answers itself in their stead, it forwards
// when there is one server (Request.Servers == 1 at parse time), so that
// the server answers as it would answer a client of its own: CONFIG GET,
// SLOWLOG, CLIENT LIST, MEMORY STATS, unknown commands (a module's),
// PING (which a busy server answers BUSY), KEYS, SCAN... What stays
// walnut's on one server too:
//
//   - what reads or changes the client's session, kept by walnut per
//     client because the server connection is shared (SELECT, AUTH,
//     HELLO, RESET, CLIENT SETNAME/REPLY/TRACKING..., transactions,
//     pub/sub), and INFO, walnut's own figures;
//   - the short list of server administration below (adminCommands),
//     which is refused on every pool: walnut stands between its clients
//     and the servers, and what reconfigures, stops, replicates or
//     debugs a server, or changes the connections walnut shares among
//     its clients, is for the server's operator, directly.
//
// Such a request is relayed: sent on the shared connection to the
// server that owns the key "placeholder" (the only one, on one server),
// its reply passed on as it is. Relays serve many-server pools too, for
// what any server answers the same (HELP texts), and for requests in
// which walnut finds no key though the command has some (ZUNION 0 ...,
// LMPOP x ...): an argument error, which the server states in its own
// words.

// adminCommands are refused on every pool, with why (docs/redis.md
// lists them). A container's name covers all its subcommands.
var adminCommands = map[string]string{
	"debug":            "debugs the server",
	"config|set":       "reconfigures the server",
	"config|rewrite":   "rewrites the server's configuration file",
	"config|resetstat": "resets the server's statistics",
	"monitor":          "streams every client's commands on the connection, which walnut shares",
	"shutdown":         "stops the server",
	"save":             "blocks the server while it saves",
	"bgsave":           "persistence is the server operator's",
	"bgrewriteaof":     "persistence is the server operator's",
	"replicaof":        "changes the server's replication",
	"slaveof":          "changes the server's replication",
	"failover":         "changes the server's replication",
	"sync":             "replication protocol",
	"psync":            "replication protocol",
	"replconf":         "replication protocol",
	"acl|setuser":      "changes the server's users",
	"acl|deluser":      "changes the server's users",
	"acl|load":         "changes the server's users",
	"acl|save":         "rewrites the server's ACL file",
	"cluster":          "Redis Cluster: walnut's pools are not clusters",
	"asking":           "Redis Cluster: walnut's pools are not clusters",
	"restore-asking":   "Redis Cluster: walnut's pools are not clusters",
	"module|load":      "loads code into the server",
	"module|loadex":    "loads code into the server",
	"module|unload":    "unloads code from the server",
	"swapdb":           "moves data across databases, which a pool of more servers could not follow",
	"move":             "moves data across databases, which a pool of more servers could not follow",
	"client|kill":      "closes connections walnut shares among its clients",
	"client|pause":     "pauses every client of the server, walnut's health checks included",
	"client|unpause":   "pauses every client of the server, walnut's health checks included",
	"script|debug":     "puts the connection, which walnut shares, into the Lua debugger",
}

// isAdmin reports whether a command of the table is server
// administration (adminCommands), by its name or its container's.
func isAdmin(name string) bool {
	if _, ok := adminCommands[name]; ok {
		return true
	}
	if i := strings.IndexByte(name, '|'); i > 0 {
		_, ok := adminCommands[name[:i]]
		return ok
	}
	return false
}

// isHelp reports whether a command of the table is a container's HELP,
// whose text is the server's.
func isHelp(name string) bool { return strings.HasSuffix(name, "|help") }

// relay sends req to the server that owns placeholderKey, on the shared
// connection, to be answered by the server as it is (AppendReply passes
// on a Forward request's one reply unchanged).
func relay(req *protocols.Request) {
	req.Kind = protocols.Forward
	req.Keys = append(req.Keys[:0], placeholderKey)
}

// relayed reports whether req was relayed: routed by placeholderKey
// itself, not by a client's key that reads "placeholder".
func relayed(req *protocols.Request) bool {
	return len(req.Keys) == 1 && len(req.Keys[0]) > 0 && &req.Keys[0][0] == &placeholderKey[0]
}

// relayOnOne reports whether act, which walnut answers itself or
// merges from every server, is relayed on a pool of one server, whose
// own answer is then the pool's. Errors included: KEYS, SCAN or TIME on
// a busy server answer BUSY as it words it, without walnut's note of
// which server said so; PING and ECHO too, where walnut would answer
// for a server that cannot. What changes the scripts and functions the
// pool keeps on its servers (SCRIPT LOAD and FLUSH, FUNCTION) is not:
// walnut remembers it, to load it again on a server that lost it
// (functions.go), which one server needs as much as many.
func relayOnOne(act action) bool {
	switch act {
	case actPing, actEcho, actCommand, actCommandCount, actCommandInfo, actCommandDocs, actCommandList,
		actCommandGetKeys, actKeys, actScan, actDBSize, actRandomKey, actScriptExists, actTime, actLastSave,
		actPubSubChannels, actPubSubNumSub, actPubSubNumPat, actRelay, actPlaceholder:
		return true
	}
	return false
}

// refuse answers a command walnut does not serve across servers: on a
// pool of one server, relayed unless it is administration.
func refuse(req *protocols.Request, idx int, withSub bool) {
	if req.Servers == 1 && !policies[idx].admin && !adminByArgs(req.Args) {
		relay(req)
		return
	}
	unsupported(req, req.Args, withSub)
}

// adminByArgs reports the administration that only arguments tell:
// ACL LOG RESET, where ACL LOG reads. (COPY ... DB, which moves data
// across databases as MOVE does, is refused by hookCopy.)
func adminByArgs(args [][]byte) bool {
	return len(args) == 3 && equalFold(args[0], "ACL") && equalFold(args[1], "LOG") && equalFold(args[2], "RESET")
}

// cmdClient is CLIENT's index in the table.
var cmdClient = find("client")

// unknownCommand answers a command that is not in walnut's table (nor a
// subcommand of a container in it) with Redis 7's words; on a pool of
// one server it goes to the server, which may know it (a module's). A
// CLIENT subcommand walnut does not know stays walnut's: a newer
// server's (CLIENT NO-TOUCH, SETINFO) would change the connection walnut
// shares among its clients.
func unknownCommand(req *protocols.Request, args [][]byte, cont int) {
	if req.Servers == 1 && cont != cmdClient {
		relay(req)
		return
	}
	req.Kind = protocols.Local
	r := req.Reply[:0]
	if cont >= 0 {
		// processCommand: "unknown subcommand '%.128s'. Try %s HELP."
		// with the container as the client spelled it, in upper case.
		r = append(r, "-ERR unknown subcommand '"...)
		r = appendCString(r, args[1], 128)
		r = append(r, "'. Try "...)
		r = appendUpper(r, args[0])
		req.Reply = append(r, " HELP.\r\n"...)
		return
	}
	// "unknown command '%.128s', with args beginning with: " and then
	// "'%.*s' " per argument, while the list is under 128 bytes, each
	// cut to what is left of them.
	r = append(r, "-ERR unknown command '"...)
	r = appendCString(r, args[0], 128)
	r = append(r, "', with args beginning with: "...)
	start := len(r)
	for _, a := range args[1:] {
		if len(r)-start >= 128 {
			break
		}
		r = append(r, '\'')
		r = appendCString(r, a, 128-(len(r)-1-start))
		r = append(r, "' "...)
	}
	req.Reply = append(r, "\r\n"...)
}

// appendUpper appends s in upper case (Redis' sdstoupper).
func appendUpper(dst, s []byte) []byte {
	for _, c := range s {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendCString appends s as C's "%.*s" prints it, at most max bytes
// and up to a NUL, with CR and LF as spaces, as Redis' error replies
// turn them.
func appendCString(dst, s []byte, max int) []byte {
	for i, c := range s {
		if i >= max || c == 0 {
			break
		}
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}
