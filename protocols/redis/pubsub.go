package redis

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.Pusher = (*Codec)(nil)

// Pub/sub through a sharding proxy, as one Redis does it. A
// channel lives on the server it hashes to, like a key: SUBSCRIBE and
// SSUBSCRIBE send each channel there, and PUBLISH and SPUBLISH are
// forwarded there, so a message reaches exactly the subscribers of its
// channel. A pattern may match channels on any server: PSUBSCRIBE goes
// to every server of the pool. A subscribing client gets a dedicated
// connection to each server it needs (protocols.Subscribed), on which
// walnut relays the messages the server pushes.
//
// walnut keeps the client's subscriptions in its session and answers
// the confirmations itself, with the counts one Redis would give (the
// client's channels and patterns, or its shard channels, across all
// servers), once the servers have confirmed: each subscription request
// is followed by a PING, whose answer ends the server's part however
// many confirmations come before it, and messages that arrive in
// between are relayed ahead of the confirmations. UNSUBSCRIBE and
// PUNSUBSCRIBE go to every connection the client holds, so that a
// channel is left wherever it was joined; when nothing is left, the
// connections are closed. In subscribed mode a RESP2 client is served
// only the pub/sub commands, PING (answered as Redis does there) and
// QUIT; a RESP3 client anything, as Redis serves it, its confirmations
// and messages being pushes, which cannot be mistaken for replies.

// subState is a client's subscriptions.
type subState struct {
	channels, patterns, shards strSet
	// connState is the connection state (database, protocol) the
	// subscription connections were set up in, which every request on
	// them keeps: a RESP3 subscriber may SELECT meanwhile, and a switch
	// on a connection the servers push messages on would have its reply
	// taken for one of them.
	connState int
}

func (s *session) subscriptions() *subState {
	if s.sub == nil {
		s.sub = &subState{}
	}
	return s.sub
}

// total is what puts the client in subscribed mode.
func (s *subState) total() int {
	return s.channels.len() + s.patterns.len() + s.shards.len()
}

// count is the number Redis puts in a confirmation: the client's
// channels and patterns, or its shard channels.
func (s *subState) count(shard bool) int {
	if shard {
		return s.shards.len()
	}
	return s.channels.len() + s.patterns.len()
}

// strSet is a set of names, kept in the order they came.
type strSet struct {
	list []string
	at   map[string]int
}

func (s *strSet) len() int { return len(s.list) }

func (s *strSet) add(b []byte) {
	if _, ok := s.at[string(b)]; ok {
		return
	}
	if s.at == nil {
		s.at = map[string]int{}
	}
	k := string(b)
	s.at[k] = len(s.list)
	s.list = append(s.list, k)
}

func (s *strSet) remove(b []byte) bool {
	i, ok := s.at[string(b)]
	if !ok {
		return false
	}
	delete(s.at, string(b))
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		s.at[s.list[i]] = i
	}
	s.list[last] = ""
	s.list = s.list[:last]
	return true
}

// takeAll empties the set and returns what it held.
func (s *strSet) takeAll() []string {
	l := s.list
	s.list, s.at = nil, nil
	return l
}

// subscribe handles the (P|S)(UN)SUBSCRIBE family: it updates the
// client's subscriptions and prepares their confirmations in Reply,
// which AppendReply sends once the servers have confirmed.
func (c *Codec) subscribe(req *protocols.Request, ss *subState, act action) {
	name := commandTable[req.Cmd].name
	shard := name == "ssubscribe" || name == "sunsubscribe"
	set := &ss.channels
	switch {
	case shard:
		set = &ss.shards
	case act == actPSubscribe || act == actPUnsubscribe:
		set = &ss.patterns
	}
	before := ss.total()
	r3 := isResp3(req)
	r := req.Reply[:0]
	args := req.Args[1:]
	if act == actSubscribe || act == actPSubscribe {
		if before == 0 {
			ss.connState = req.ConnState
		}
		req.ConnState = ss.connState
		for _, ch := range args {
			set.add(ch)
			r = appendConfirm(r, name, ch, ss.count(shard), r3)
		}
		req.Conn = protocols.Subscribed
		if act == actPSubscribe {
			req.Kind = protocols.Forward
			req.Keys = req.Keys[:0]
		}
		req.Reply = r
		return
	}
	changed := false
	if len(args) == 0 {
		all := set.takeAll()
		for i, ch := range all {
			r = appendConfirm(r, name, []byte(ch), ss.count(shard)+len(all)-1-i, r3)
		}
		if len(all) == 0 {
			r = appendConfirm(r, name, nil, ss.count(shard), r3)
		}
		changed = len(all) > 0
	} else {
		for _, ch := range args {
			changed = set.remove(ch) || changed
			r = appendConfirm(r, name, ch, ss.count(shard), r3)
		}
	}
	req.Reply = r
	req.Keys = req.Keys[:0]
	if !changed {
		// Nothing to leave on any server.
		req.Kind = protocols.Local
		return
	}
	// To every connection held: a channel is left where it was joined,
	// even if the pool's routing changed since.
	req.Kind = protocols.Forward
	req.Conn, req.Held = protocols.Subscribed, true
	req.ConnState = ss.connState
	req.Release = before > 0 && ss.total() == 0
}

// appendConfirm appends a subscription confirmation: the command's
// name, the channel (nil: none), the count; a push in RESP3.
func appendConfirm(dst []byte, name string, ch []byte, n int, r3 bool) []byte {
	dst = appendPushLen(dst, 3, r3)
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(name)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, name...)
	dst = append(dst, '\r', '\n')
	if ch == nil {
		dst = appendNull(dst, r3)
	} else {
		dst = appendBulk(dst, ch)
	}
	return appendCount(dst, ':', n)
}

// subscribedMode serves a request from a subscribed client: only the
// pub/sub commands, PING and QUIT, as Redis allows.
func (c *Codec) subscribedMode(req *protocols.Request, s *session, act action) {
	switch {
	case req.Kind != protocols.Local && (act == actSubscribe || act == actUnsubscribe || act == actPSubscribe || act == actPUnsubscribe):
		c.subscribe(req, s.sub, act)
	case req.Close, req.Cmd == 0, req.Flags&reqArity != 0:
		// QUIT; and errors Redis gives before this check (unknown
		// command, wrong arguments).
	case act == actPing:
		r := append(req.Reply[:0], pongArray...)
		if len(req.Args) > 1 {
			req.Reply = appendBulk(r, req.Args[1])
		} else {
			req.Reply = append(r, "$0\r\n\r\n"...)
		}
		req.Kind = protocols.Local
	default:
		// Everything else, including the connection commands walnut
		// answers itself (SELECT, AUTH, ECHO...) and the ones over the
		// whole keyspace (KEYS, INFO servers...), as Redis refuses them
		// to a RESP2 subscriber.
		req.Keys = req.Keys[:0]
		req.Conn, req.Block = protocols.Shared, 0
		req.Flags &^= reqConn | reqRewrite
		localError(req, "Can't execute '", commandTable[req.Cmd].name,
			"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
	}
}

// subscribedLen is ParseResponse for a subscription request: everything
// up to the answer of the PING that follows it.
func (c *Codec) subscribedLen(buf []byte) (int, error) {
	pos := 0
	for {
		n, err := replyLen(buf[pos:], c.maxReplyBulk)
		if n == 0 || err != nil {
			return 0, err
		}
		v := buf[pos : pos+n]
		pos += n
		if isPong(v) {
			return pos, nil
		}
	}
}

// replySubscribed relays the messages that came with the servers'
// answers, then the confirmations walnut prepared; a server's error
// takes the confirmations' place.
func (c *Codec) replySubscribed(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	for i := range parts {
		if parts[i].Err != nil {
			return appendErrText(append(dst, "-ERR "...), parts[i].Err.Error())
		}
	}
	var firstErr []byte
	for i := range parts {
		r := parts[i].Resp
		for len(r) > 0 {
			n, err := replyLen(r, c.maxReplyBulk)
			if n == 0 || err != nil {
				break
			}
			v := r[:n]
			r = r[n:]
			switch {
			case isPush(v):
				dst = append(dst, v...)
			case v[0] == '-' && firstErr == nil:
				firstErr = v
			}
		}
	}
	if firstErr != nil {
		return append(dst, firstErr...)
	}
	return append(dst, req.Reply...)
}

var (
	pushMessage  = []byte("*3\r\n$7\r\nmessage\r\n")
	pushPMessage = []byte("*4\r\n$8\r\npmessage\r\n")
	pushSMessage = []byte("*3\r\n$8\r\nsmessage\r\n")
	errNotPush   = errors.New("redis: a server sent something other than a message on a subscribed connection")
)

// isPush reports whether v is a message a server pushes to a subscriber:
// an array in RESP2, a push in RESP3, which is relayed as it came to a
// client that speaks the same (the connection is in its protocol).
func isPush(v []byte) bool {
	if len(v) > 0 && v[0] == '>' {
		// The same but for the type: compare past it.
		v = v[1:]
		return bytes.HasPrefix(v, pushMessage[1:]) || bytes.HasPrefix(v, pushPMessage[1:]) || bytes.HasPrefix(v, pushSMessage[1:])
	}
	return bytes.HasPrefix(v, pushMessage) || bytes.HasPrefix(v, pushPMessage) || bytes.HasPrefix(v, pushSMessage)
}

// PushLen implements protocols.Pusher: messages, and nothing else, may
// come unasked.
func (c *Codec) PushLen(buf []byte) (int, error) {
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil {
		return 0, err
	}
	if !isPush(buf[:n]) {
		return 0, errNotPush
	}
	return n, nil
}
