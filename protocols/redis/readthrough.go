package redis

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.ReadThrough = (*Codec)(nil)

// Through implements protocols.ReadThrough: DEL and UNLINK are deletes;
// the read-only commands walnut forwards or splits (GET, MGET, HGET,
// EXISTS, TTL, LRANGE, ...) are reads, except scripts, whose nil may
// mean anything. A request on a dedicated connection is neither: inside
// a transaction (or after WATCH) it belongs to the one server the
// transaction runs on, and a blocking command (BLPOP, XREAD BLOCK) waits
// on its key's new server, which the mover wakes it on. Nor are the
// whole-keyspace commands (KEYS, SCAN, DBSIZE...: Broadcast, Targeted),
// which carry no key: they reach the pool's servers, the new ones, only.
// The client's database (Request.ConnState) is the request's own: the core
// selects it on the old server's connection as on the new one's.
func (c *Codec) Through(req *protocols.Request) protocols.Through {
	switch {
	case req.Kind != protocols.Forward && req.Kind != protocols.Split,
		req.Conn != protocols.Shared, int(req.Cmd) >= len(commandTable):
		return protocols.ThroughNone
	}
	ci, p := &commandTable[req.Cmd], &policies[req.Cmd]
	switch {
	case ci.name == "del" || ci.name == "unlink":
		return protocols.ThroughDelete
	case ci.flags&flagReadonly == 0, p.hook == hookEval, p.hook == hookFcall:
		return protocols.ThroughNone
	case p.act == actForward, p.act == actMGet, p.act == actSumInt:
		return protocols.ThroughRead
	}
	return protocols.ThroughNone
}

// missReplies are the replies that mean "no such key" for a command on
// one key: a nil (GET, HGET, an MGET of one key), an empty collection
// (HGETALL, SMEMBERS, LRANGE: Redis deletes empty ones), a count of 0
// (EXISTS, DEL, STRLEN, HLEN), -2 (TTL, PTTL), none (TYPE). Some also
// answer an existing key (HGET of a missing field): asking the old
// server then answers the same, unless it still holds the key.
var missReplies = [][]byte{
	[]byte("$-1\r\n"), []byte("*-1\r\n"), []byte("*0\r\n"), []byte(":0\r\n"), []byte(":-2\r\n"),
	[]byte("+none\r\n"), []byte("_\r\n"), []byte("*1\r\n$-1\r\n"),
	// The same in RESP3: an empty map (HGETALL) or set (SMEMBERS), and
	// an MGET of one key that is missing.
	[]byte("%0\r\n"), []byte("~0\r\n"), []byte("*1\r\n_\r\n"),
}

// Missed implements protocols.ReadThrough.
func (c *Codec) Missed(req *protocols.Request, resp []byte) bool {
	for _, m := range missReplies {
		if bytes.Equal(resp, m) {
			return true
		}
	}
	return false
}
