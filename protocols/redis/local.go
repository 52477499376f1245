package redis

import (
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// Commands about the connection, answered by walnut as Redis 7 answers
// them: SELECT, AUTH, HELLO, RESET, CLIENT SETNAME/GETNAME/ID/INFO, and
// INFO with walnut's own figures (info.go). FLUSHDB and FLUSHALL pass through here
// too, for the pool's allow_flush.

// Redis 7's texts.
const (
	replyDBRange     = "-ERR DB index is out of range\r\n"
	replyNotInteger  = "-ERR value is not an integer or out of range\r\n"
	replyBadProto    = "-ERR Protocol version is not an integer or out of range\r\n"
	replyNoProto     = "-NOPROTO unsupported protocol version\r\n"
	replyHelloNoAuth = "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
	replyBadName     = "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
	replySyntax      = "-ERR syntax error\r\n"
)

// connCommand answers a request route marked reqConn. s is the client's
// session; without one (a codec used outside a proxy) a throwaway one
// stands in.
func (c *Codec) connCommand(req *protocols.Request, s *session) {
	req.Flags &^= reqConn
	if s == nil {
		s = &session{db: c.db}
	}
	args := req.Args
	switch policies[req.Cmd].act {
	case actSelect:
		db, ok := parseInt(args[1])
		switch {
		case !ok || db != int64(int32(db)):
			local(req, replyNotInteger)
		case db < 0 || db >= int64(c.databases):
			local(req, replyDBRange)
		default:
			s.db = int(db)
			local(req, "+OK\r\n")
		}
	case actAuth:
		c.auth(req, s)
	case actHello:
		c.hello(req, s)
	case actReset:
		c.reset(req, s)
	case actClientSetName:
		if !validName(args[2]) {
			local(req, replyBadName)
			return
		}
		s.name = append(s.name[:0], args[2]...)
		local(req, "+OK\r\n")
	case actClientGetName:
		if len(s.name) == 0 {
			req.Kind = protocols.Local
			req.Reply = appendNull(req.Reply[:0], isResp3(req))
			return
		}
		req.Kind = protocols.Local
		req.Reply = appendBulk(req.Reply[:0], s.name)
	case actClientID:
		req.Kind = protocols.Local
		req.Reply = append(strconv.AppendUint(append(req.Reply[:0], ':'), s.id, 10), '\r', '\n')
	case actClientInfo:
		req.Kind = protocols.Local
		req.Reply = appendText(req.Reply[:0], clientInfo(s), isResp3(req))
	case actClientReply, actClientUnblock, actClientLocal:
		c.clientCommand(req, s)
	case actInfo:
		c.infoCommand(req, s.tx != nil && s.tx.multi)
	case actFlush:
		if !c.allowFlush {
			localError(req, policies[req.Cmd].upper, " is refused: it would empty every server of the pool",
				"; set allow_flush = true in the pool's configuration to allow it")
			return
		}
		if req.Servers == 1 {
			relay(req)
			return
		}
		req.Kind = protocols.Broadcast
	}
}

// auth answers AUTH password and AUTH user password.
func (c *Codec) auth(req *protocols.Request, s *session) {
	args := req.Args
	var user, pass []byte
	switch len(args) {
	case 2:
		if c.clientPassword == "" {
			local(req, replyNoPass)
			return
		}
		user, pass = []byte("default"), args[1]
	case 3:
		user, pass = args[1], args[2]
	default:
		local(req, replySyntax)
		return
	}
	// As in Redis, a wrong password leaves an authenticated client so.
	if !c.checkAuth(user, pass) {
		local(req, replyWrongPass)
		return
	}
	s.authed = true
	local(req, "+OK\r\n")
}

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]] as Redis
// 7 does: protover 2 or 3 sets the client's protocol version, and the
// reply, a map in RESP3, is in the version it sets.
func (c *Codec) hello(req *protocols.Request, s *session) {
	args := req.Args
	next := 1
	proto := 0
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		switch {
		case !ok:
			local(req, replyBadProto)
			return
		case v != 2 && v != 3:
			local(req, replyNoProto)
			return
		}
		proto = int(v)
		next = 2
	}
	var user, pass, name []byte
	setName := false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case equalFold(args[j], "AUTH") && more >= 2:
			user, pass = args[j+1], args[j+2]
			j += 2
		case equalFold(args[j], "SETNAME") && more >= 1:
			name, setName = args[j+1], true
			if !validName(name) {
				local(req, replyBadName)
				return
			}
			j++
		default:
			req.Kind = protocols.Local
			r := append(req.Reply[:0], "-ERR Syntax error in HELLO option '"...)
			r = appendSanitized(r, args[j], 128)
			req.Reply = append(r, "'\r\n"...)
			return
		}
	}
	if user != nil {
		if !c.checkAuth(user, pass) {
			local(req, replyWrongPass)
			return
		}
		s.authed = true
	}
	if c.clientPassword != "" && !s.authed {
		local(req, replyHelloNoAuth)
		return
	}
	if proto != 0 && (proto == 3) != s.resp3 && s.sub != nil && s.sub.total() > 0 {
		// Redis lets a RESP3 subscriber go back to RESP2. Its
		// subscription connections would have to follow, while the
		// servers push messages on them: walnut keeps them as they are.
		localError(req, "walnut does not change the protocol of a subscribed client", ": unsubscribe first", "")
		return
	}
	if setName {
		s.name = append(s.name[:0], name...)
	}
	if proto != 0 {
		s.resp3 = proto == 3
	}
	req.Kind = protocols.Local
	r := appendMapLen(req.Reply[:0], 7, s.resp3)
	r = append(r, "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"...)
	r = appendBulk(r, []byte(redisVersion))
	if s.resp3 {
		r = append(r, "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"...)
	} else {
		r = append(r, "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:"...)
	}
	r = strconv.AppendUint(r, s.id, 10)
	req.Reply = append(r, "\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"...)
}

// validName is Redis' rule for client names: printable ASCII without
// spaces, or empty (no name).
func validName(b []byte) bool {
	for _, c := range b {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// clientInfo is CLIENT INFO's line, with what walnut knows of the
// client (Redis' other fields describe a server connection).
func clientInfo(s *session) []byte {
	b := append([]byte("id="), strconv.FormatUint(s.id, 10)...)
	b = append(b, " name="...)
	b = append(b, s.name...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(s.db), 10)
	if s.resp3 {
		return append(b, " user=default resp=3\n"...)
	}
	return append(b, " user=default resp=2\n"...)
}
