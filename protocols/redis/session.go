package redis

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"strconv"
	"sync/atomic"

	"github.com/walnutproxy/walnut/protocols"
)

var (
	_ protocols.Sessions      = (*Codec)(nil)
	_ protocols.Greeter       = (*Codec)(nil)
	_ protocols.ClassSwitcher = (*Codec)(nil)
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
// HELLO, QUIT, RESET).
func allowedUnauthenticated(req *protocols.Request) bool {
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
	return c.greeting, c.greetingReplies
}

// SwitchClass implements protocols.ClassSwitcher: class db+1 is
// database db, class 0 the pool's database.
func (c *Codec) SwitchClass(class int) []byte {
	db := c.db
	if class != 0 {
		db = class - 1
	}
	if db < len(c.selects) {
		return c.selects[db]
	}
	g, _ := buildGreeting("", db, true)
	return g
}

// SwitchReply implements protocols.ClassSwitcher: SELECT answers +OK.
func (c *Codec) SwitchReply(resp []byte) error {
	if !bytes.Equal(resp, []byte("+OK\r\n")) {
		return protocols.Errorf("server refused SELECT: %s", bytes.TrimSpace(resp))
	}
	return nil
}

// buildGreeting returns AUTH password (if set) and SELECT db (unless it
// is database 0 and always is false), and the number of replies.
func buildGreeting(password string, db int, always bool) ([]byte, int) {
	var g []byte
	n := 0
	if password != "" {
		g = append(g, "*2\r\n$4\r\nAUTH\r\n"...)
		g = appendBulk(g, []byte(password))
		n++
	}
	if db != 0 || always {
		g = append(g, "*2\r\n$6\r\nSELECT\r\n"...)
		g = appendBulk(g, strconv.AppendInt(nil, int64(db), 10))
		n++
	}
	return g, n
}

// GreetingReply implements protocols.Greeter: anything but +OK refuses.
func (c *Codec) GreetingReply(buf []byte) (int, error) {
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil {
		return n, err
	}
	if !bytes.Equal(buf[:n], []byte("+OK\r\n")) {
		return n, protocols.Errorf("server refused the connection setup (AUTH/SELECT): %s", bytes.TrimSpace(buf[:n]))
	}
	return n, nil
}
