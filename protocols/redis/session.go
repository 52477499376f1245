package redis

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/walnutproxy/walnut/protocols"
)

var (
	_ protocols.Sessions      = (*Codec)(nil)
	_ protocols.Greeter       = (*Codec)(nil)
	_ protocols.StateSwitcher = (*Codec)(nil)
)

// session is what walnut remembers of a Redis client between requests.
type session struct {
	authed bool
	// db is the database the client selected (the pool's redis_db until
	// it sends SELECT).
	db int
	// resp3: the client asked for RESP3 with HELLO 3 (until HELLO 2 or
	// RESET); its requests go on server connections in RESP3 too.
	resp3 bool
	// id is CLIENT ID's answer, name CLIENT SETNAME's.
	id   uint64
	name []byte
	tx   *txState  // transaction, from the first WATCH or MULTI
	sub  *subState // subscriptions, from the first one
	// CLIENT REPLY (clientcmds.go): OFF, SKIP for this request, SKIP
	// for the next.
	replyOff, replySkip, replySkipNext bool
	// blocks is set once the client has been registered for CLIENT
	// UNBLOCK (clientcmds.go).
	blocks *blockRegistry
}

// clientIDs numbers clients across the pools and reloads of a process;
// clients handed over by a binary upgrade keep theirs, and new ones are
// numbered after them.
var clientIDs atomic.Uint64

// NewSession implements protocols.Sessions.
func (c *Codec) NewSession() any { return &session{db: c.db, id: clientIDs.Add(1)} }

// sessionV2 and sessionV3 start a marshalled session. The first format
// was one byte, 0 or 1 for authenticated; a process of that time reads
// the others as not authenticated, which is safe. V3 adds the protocol
// version after the authentication byte; a process that knows V2 only
// reads it as a new session, which is safe too (a RESP3 client it kept
// would get RESP2 replies).
const (
	sessionV2 = 2
	sessionV3 = 3
)

// MarshalSession implements protocols.Sessions: the version, whether the
// client authenticated, its protocol version, database, id and name.
func (c *Codec) MarshalSession(s any) []byte {
	ss, ok := s.(*session)
	if !ok {
		return []byte{0}
	}
	b := []byte{sessionV3, 0, 2}
	if ss.authed {
		b[1] = 1
	}
	if ss.resp3 {
		b[2] = 3
	}
	b = binary.AppendUvarint(b, uint64(ss.db))
	b = binary.AppendUvarint(b, ss.id)
	b = binary.AppendUvarint(b, uint64(len(ss.name)))
	return append(b, ss.name...)
}

// UnmarshalSession implements protocols.Sessions; it reads every format
// walnut ever wrote. What it cannot read makes a new session, not
// authenticated.
func (c *Codec) UnmarshalSession(b []byte) any {
	if len(b) == 1 {
		s := c.NewSession().(*session)
		s.authed = b[0] == 1
		return s
	}
	if len(b) < 2 || (b[0] != sessionV2 && b[0] != sessionV3) || b[1] > 1 {
		return c.NewSession()
	}
	s := &session{authed: b[1] == 1}
	rest := b[2:]
	if b[0] == sessionV3 {
		if len(rest) == 0 || (rest[0] != 2 && rest[0] != 3) {
			return c.NewSession()
		}
		s.resp3 = rest[0] == 3
		rest = rest[1:]
	}
	db, n := binary.Uvarint(rest)
	if n <= 0 || db >= 1<<31 {
		return c.NewSession()
	}
	rest = rest[n:]
	id, n := binary.Uvarint(rest)
	if n <= 0 {
		return c.NewSession()
	}
	rest = rest[n:]
	l, n := binary.Uvarint(rest)
	if n <= 0 || l != uint64(len(rest)-n) {
		return c.NewSession()
	}
	s.db, s.id = int(db), id
	if l > 0 {
		s.name = append([]byte(nil), rest[n:]...)
	}
	for {
		cur := clientIDs.Load()
		if cur >= id || clientIDs.CompareAndSwap(cur, id) {
			break
		}
	}
	return s
}

// Redis 7's texts, which clients and their users know.
const (
	replyNoAuth    = "-NOAUTH Authentication required.\r\n"
	replyWrongPass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	replyNoPass    = "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
)

// allowedUnauthenticated reports whether a client that has not given the
// pool's password may send req: the commands Redis flags no_auth (AUTH,
// HELLO, QUIT, RESET), and the errors Redis gives before asking for it.
func allowedUnauthenticated(req *protocols.Request) bool {
	if req.Kind == protocols.Local && (req.Cmd == 0 || req.Flags&reqArity != 0) {
		return true // Redis tells an unknown command or wrong arguments first
	}
	return int(req.Cmd) < len(commandTable) && commandTable[req.Cmd].flags&flagNoAuth != 0
}

// checkAuth checks a user and password against the pool's password the
// way Redis 7 checks them for its default user, in constant time. With
// no password set, the default user takes any password.
func (c *Codec) checkAuth(user, pass []byte) bool {
	if string(user) != "default" {
		return false
	}
	if c.clientPassword == "" {
		return true
	}
	return subtle.ConstantTimeCompare(pass, []byte(c.clientPassword)) == 1
}

// Greeting implements protocols.Greeter: AUTH and SELECT on every new
// server connection, when the pool sets redis_auth and redis_db.
func (c *Codec) Greeting() ([]byte, int) {
	return c.greeting, len(c.greetingNames)
}

// Connection states (Request.ConnState): a client's database and
// protocol version, which the core switches a server connection to
// ahead of its requests. State 0 is the pool's database in RESP2, what
// the greeting leaves a new connection in; the lowest bit is RESP3, the
// rest 0 for the pool's database or db+1 for database db. So a RESP2
// client of the pool's database never needs a switch, and the states of
// the first 127 databases stay among the 256 the core keeps best.
func (c *Codec) connState(db int, resp3 bool) int {
	st := 0
	if db != c.db {
		st = (db + 1) << 1
	}
	if resp3 {
		st |= 1
	}
	return st
}

// stateOf is connState's inverse.
func (c *Codec) stateOf(st int) (db int, resp3 bool) {
	db = c.db
	if st>>1 != 0 {
		db = st>>1 - 1
	}
	return db, st&1 != 0
}

// The requests that switch a server connection's protocol version.
var (
	hello2Req = []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n")
	hello3Req = []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
)

// SwitchState implements protocols.StateSwitcher: HELLO 3 or HELLO 2
// when the protocol version changes, then SELECT when the database does
// (HELLO keeps the database). A RESP2 client's connection never sees a
// HELLO unless a RESP3 client's request went on it before.
func (c *Codec) SwitchState(dst []byte, from, to int) ([]byte, int) {
	fdb, f3 := c.stateOf(from)
	tdb, t3 := c.stateOf(to)
	n := 0
	if f3 != t3 {
		if t3 {
			dst = append(dst, hello3Req...)
		} else {
			dst = append(dst, hello2Req...)
		}
		n++
	}
	if fdb != tdb || n == 0 {
		dst = appendSelect(dst, tdb)
		n++
	}
	return dst, n
}

// SwitchReply implements protocols.StateSwitcher: HELLO answers a map
// (RESP3) or an array (RESP2), SELECT +OK; a refusal says so as
// GreetingReply does ("SELECT 20 refused by the server: ERR DB index is
// out of range").
func (c *Codec) SwitchReply(from, to, i int, resp []byte) error {
	_, f3 := c.stateOf(from)
	tdb, t3 := c.stateOf(to)
	if i == 0 && f3 != t3 {
		if len(resp) > 0 && (resp[0] == '%' || resp[0] == '*') {
			return nil
		}
		v := 2
		if t3 {
			v = 3
		}
		return fmt.Errorf("HELLO %d refused by the server: %s", v, refusal(resp))
	}
	if bytes.Equal(resp, []byte("+OK\r\n")) {
		return nil
	}
	return fmt.Errorf("SELECT %d refused by the server: %s", tdb, refusal(resp))
}

// appendSelect appends SELECT db.
func appendSelect(dst []byte, db int) []byte {
	var num [20]byte
	dst = append(dst, "*2\r\n$6\r\nSELECT\r\n"...)
	return appendBulk(dst, strconv.AppendInt(num[:0], int64(db), 10))
}

// buildGreeting returns the setup requests and, for messages, what each
// is called (never the password).
func buildGreeting(o *Options) ([]byte, []string) {
	var g []byte
	var names []string
	if o.Auth != "" {
		g = append(g, "*2\r\n$4\r\nAUTH\r\n"...)
		g = appendBulk(g, []byte(o.Auth))
		names = append(names, "AUTH")
	}
	if o.DB != 0 {
		g = appendSelect(g, o.DB)
		names = append(names, "SELECT "+strconv.Itoa(o.DB))
	}
	return g, names
}

// GreetingReply implements protocols.Greeter: anything but +OK refuses,
// with a text that says which request the server refused and why
// ("SELECT 99 refused by the server: ERR DB index is out of range").
// nutcracker logs the refusal and carries on, so that a refused SELECT
// sends every request to database 0; walnut sends nothing on such a
// connection.
func (c *Codec) GreetingReply(i int, buf []byte) (int, error) {
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil {
		return n, err
	}
	if !bytes.Equal(buf[:n], []byte("+OK\r\n")) {
		what := "the connection setup"
		if i >= 0 && i < len(c.greetingNames) {
			what = c.greetingNames[i]
		}
		return n, fmt.Errorf("%s refused by the server: %s", what, refusal(buf[:n]))
	}
	return n, nil
}

// refusal is how a setup reply that is not +OK is quoted: "-ERR DB index
// is out of range\r\n" as "ERR DB index is out of range".
func refusal(reply []byte) []byte {
	reply = bytes.TrimSpace(reply)
	if len(reply) > 0 && (reply[0] == '-' || reply[0] == '+') {
		reply = reply[1:]
	}
	return reply
}
