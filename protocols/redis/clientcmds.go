package redis

import (
	"runtime"
	"strconv"
	"sync"

	"github.com/walnutproxy/walnut/protocols"
)

// CLIENT subcommands answered for walnut's client rather than for the
// server connection, which walnut shares among its clients:
//
//   - CLIENT REPLY ON|OFF|SKIP: walnut sends the client nothing for the
//     requests Redis would not answer (Request.Mute); they still go to
//     the servers.
//   - CLIENT UNBLOCK id [TIMEOUT|ERROR], with the ids CLIENT ID gives:
//     a client blocked in BLPOP and the like waits on a connection of
//     its own (protocols.Once), whose server-side id walnut learns by
//     sending CLIENT ID ahead of the blocking command; UNBLOCK goes to
//     that server with that id, and the server answers 1 or 0 and
//     wakes the blocked client as Redis does.
//   - CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO, NO-EVICT: no
//     client-side caching (tracking would change the shared server
//     connection), and nothing of walnut's clients for a server to
//     evict; walnut answers them for a client that does not track.

const (
	replyCachingOff = "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n"
	replyUnblockWhy = "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
	replyNoTracking = "-ERR walnut does not support client-side caching: CLIENT TRACKING would change the server connection walnut shares among its clients\r\n"
	replyTrackInfo  = "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
	// replyTrackInfo3 is the same in RESP3: a map, whose flags are a set.
	replyTrackInfo3 = "%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
)

// clientCommand answers the CLIENT subcommands above.
func (c *Codec) clientCommand(req *protocols.Request, s *session) {
	args := req.Args
	switch policies[req.Cmd].act {
	case actClientReply:
		switch {
		case equalFold(args[2], "ON"):
			s.replyOff, s.replySkip = false, false
			local(req, "+OK\r\n")
		case equalFold(args[2], "OFF"):
			s.replyOff = true
			local(req, "")
		case equalFold(args[2], "SKIP"):
			s.replySkipNext = !s.replyOff
			local(req, "")
		default:
			local(req, replySyntax)
		}
	case actClientUnblock:
		c.unblock(req)
	case actClientLocal:
		switch sub := args[1]; {
		case equalFold(sub, "TRACKINGINFO") && isResp3(req):
			local(req, replyTrackInfo3)
		case equalFold(sub, "TRACKINGINFO"):
			local(req, replyTrackInfo)
		case equalFold(sub, "GETREDIR"):
			local(req, ":-1\r\n")
		case equalFold(sub, "CACHING"):
			local(req, replyCachingOff)
		case equalFold(sub, "NO-EVICT") && (equalFold(args[2], "ON") || equalFold(args[2], "OFF")):
			local(req, "+OK\r\n")
		case equalFold(sub, "TRACKING") && equalFold(args[2], "ON"):
			local(req, replyNoTracking)
		case equalFold(sub, "TRACKING") && equalFold(args[2], "OFF"):
			local(req, "+OK\r\n")
		default:
			local(req, replySyntax)
		}
	}
}

// muteFor applies CLIENT REPLY to req, the request just parsed, as
// Redis' resetClient does after each command: OFF or SKIP mute it, and
// a SKIP of the request before becomes this one's.
func muteFor(req *protocols.Request, s *session) {
	req.Mute = s.replyOff || s.replySkip
	s.replySkip = s.replySkipNext
	s.replySkipNext = false
}

// blockRegistry knows, by walnut's client id, the clients blocked on a
// connection of their own: the key that chose its server and the id the
// server gave it. Blocking commands register as they are parsed and
// leave as they are answered; CLIENT UNBLOCK reads it; none of it is on
// the path of the common commands.
type blockRegistry struct {
	mu sync.Mutex
	// by holds a client's blocking commands parsed and not answered, in
	// order: the core may parse the next before the first is answered,
	// and the first is the one that waits.
	by map[uint64][]*blocked
}

// blocked is one blocking command. Its key is a copy; id is -1 until
// the server's CLIENT ID answer is in.
type blocked struct {
	key []byte
	id  int64
}

// clientIDReq goes ahead of a blocking command on its connection.
var clientIDReq = []byte("*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")

// register records req, a blocking command on a connection of its own,
// for CLIENT UNBLOCK, and has CLIENT ID sent ahead of it.
func (c *Codec) register(req *protocols.Request, s *session) {
	if s == nil || len(req.Keys) == 0 {
		return
	}
	r := c.blocks
	if s.blocks == nil {
		s.blocks = r
		// A client that leaves while blocked never gets its reply: its
		// entries go with its session.
		runtime.AddCleanup(s, func(id uint64) { r.forget(id) }, s.id)
	}
	b := &blocked{key: append([]byte(nil), req.Keys[0]...), id: -1}
	r.mu.Lock()
	if r.by == nil {
		r.by = map[uint64][]*blocked{}
	}
	r.by[s.id] = append(r.by[s.id], b)
	r.mu.Unlock()
	req.Flags |= reqPrefixed
}

// learnID records the server's answer to CLIENT ID for req's client,
// whose first blocking command it is.
func (c *Codec) learnID(req *protocols.Request, resp []byte) {
	s, _ := req.Session.(*session)
	id, ok := intReply(resp)
	if s == nil || !ok {
		return
	}
	r := c.blocks
	r.mu.Lock()
	if l := r.by[s.id]; len(l) > 0 {
		l[0].id = id
	}
	r.mu.Unlock()
}

// answered forgets req's client's first blocking command, answered.
func (c *Codec) answered(req *protocols.Request) {
	s, _ := req.Session.(*session)
	if s == nil || s.blocks == nil {
		return
	}
	r := c.blocks
	r.mu.Lock()
	switch l := r.by[s.id]; len(l) {
	case 0:
	case 1:
		delete(r.by, s.id)
	default:
		l[0] = nil
		r.by[s.id] = l[1:]
	}
	r.mu.Unlock()
}

func (r *blockRegistry) forget(id uint64) {
	r.mu.Lock()
	delete(r.by, id)
	r.mu.Unlock()
}

// count is INFO's blocked_clients: clients waiting on a blocking
// command (as far as walnut knows, from when it is parsed).
func (r *blockRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.by)
}

// unblock answers CLIENT UNBLOCK id [TIMEOUT|ERROR], in Redis' order of
// checks: it is sent, with the server's id for the client, to the
// server the client waits on, or answered 0 when the client is not
// blocked (or its server has not told its id yet).
func (c *Codec) unblock(req *protocols.Request) {
	args := req.Args
	switch {
	case len(args) > 4:
		// addReplySubcommandSyntaxError: the subcommand as the client
		// wrote it, the command in upper case.
		r := append(req.Reply[:0], "-ERR unknown subcommand or wrong number of arguments for '"...)
		r = appendCString(r, args[1], 128)
		r = append(r, "'. Try "...)
		r = appendUpper(r, args[0])
		req.Kind = protocols.Local
		req.Reply = append(r, " HELP.\r\n"...)
		return
	case len(args) == 4 && !equalFold(args[3], "TIMEOUT") && !equalFold(args[3], "ERROR"):
		local(req, replyUnblockWhy)
		return
	}
	id, ok := parseInt(args[2])
	if !ok {
		local(req, replyNotInteger)
		return
	}
	var key []byte
	sid := int64(-1)
	r := c.blocks
	r.mu.Lock()
	if l := r.by[uint64(id)]; len(l) > 0 && id > 0 {
		key, sid = l[0].key, l[0].id
	}
	r.mu.Unlock()
	if sid < 0 {
		local(req, ":0\r\n")
		return
	}
	req.Kind = protocols.Forward
	req.Keys = append(req.Keys[:0], key)
	// The server's id, in place of walnut's: Reply is free in a request
	// that goes to a server.
	req.Reply = strconv.AppendInt(req.Reply[:0], sid, 10)
	req.Args[2] = req.Reply
	req.Flags |= reqRewrite
}
