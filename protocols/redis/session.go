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

// sessionV2 starts a marshalled session. The first format was one byte,
// 0 or 1 for authenticated; a process of that time reads this one as
// not authenticated, which is safe.
const sessionV2 = 2

// MarshalSession implements protocols.Sessions: the version, whether the
// client authenticated, its database, id and name.
func (c *Codec) MarshalSession(s any) []byte {
	ss, ok := s.(*session)
	if !ok {
		return []byte{0}
	}
	b := []byte{sessionV2, 0}
	if ss.authed {
		b[1] = 1
	}
	b = binary.AppendUvarint(b, uint64(ss.db))
	b = binary.AppendUvarint(b, ss.id)
	b = binary.AppendUvarint(b, uint64(len(ss.name)))
	return append(b, ss.name...)
}

// UnmarshalSession implements protocols.Sessions. What it cannot read
// makes a new session, not authenticated.
func (c *Codec) UnmarshalSession(b []byte) any {
	if len(b) == 1 {
		s := c.NewSession().(*session)
		s.authed = b[0] == 1
		return s
	}
	if len(b) < 2 || b[0] != sessionV2 || b[1] > 1 {
		return c.NewSession()
	}
	s := &session{authed: b[1] == 1}
	rest := b[2:]
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

// SwitchState implements protocols.StateSwitcher: state db+1 is
// database db, state 0 the pool's database.
func (c *Codec) SwitchState(state int) []byte {
	db := c.db
	if state != 0 {
		db = state - 1
	}
	if db < len(c.selects) {
		return c.selects[db]
	}
	return appendSelect(nil, db)
}

// SwitchReply implements protocols.StateSwitcher: SELECT answers +OK,
// and a refusal says so as GreetingReply does ("SELECT 20 refused by
// the server: ERR DB index is out of range").
func (c *Codec) SwitchReply(state int, resp []byte) error {
	if bytes.Equal(resp, []byte("+OK\r\n")) {
		return nil
	}
	db := c.db
	if state != 0 {
		db = state - 1
	}
	return fmt.Errorf("SELECT %d refused by the server: %s", db, refusal(resp))
}

// appendSelect appends SELECT db.
func appendSelect(dst []byte, db int) []byte {
	dst = append(dst, "*2\r\n$6\r\nSELECT\r\n"...)
	return appendBulk(dst, strconv.AppendInt(nil, int64(db), 10))
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
