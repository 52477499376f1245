package redis

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

var (
	_ protocols.Sessions = (*Codec)(nil)
	_ protocols.Greeter  = (*Codec)(nil)
)

// session is what walnut remembers of a Redis client between requests.
type session struct {
	authed bool
	tx     *txState  // transaction, from the first WATCH or MULTI
	sub    *subState // subscriptions, from the first one
}

// NewSession implements protocols.Sessions.
func (c *Codec) NewSession() any { return &session{} }

// MarshalSession implements protocols.Sessions.
func (c *Codec) MarshalSession(s any) []byte {
	if ss, ok := s.(*session); ok && ss.authed {
		return []byte{1}
	}
	return []byte{0}
}

// UnmarshalSession implements protocols.Sessions.
func (c *Codec) UnmarshalSession(b []byte) any {
	return &session{authed: len(b) > 0 && b[0] == 1}
}

var authIdx = func() uint16 {
	for i, c := range commandTable {
		if c.name == "auth" {
			return uint16(i)
		}
	}
	panic("redis: no AUTH in the command table")
}()

// Redis 7's texts, which clients and their users know.
const (
	replyNoAuth    = "-NOAUTH Authentication required.\r\n"
	replyWrongPass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	replyNoPass    = "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
)

// authenticate answers AUTH, and refuses everything else but QUIT until
// the client has given the pool's password.
func (c *Codec) authenticate(req *protocols.Request) {
	s, _ := req.Session.(*session)
	isAuth := len(req.Args) > 0 && req.Cmd == authIdx && req.Kind == protocols.Local && !bytes.HasPrefix(req.Reply, []byte("-ERR wrong number"))
	if isAuth {
		switch {
		case c.clientPassword == "":
			local(req, replyNoPass)
		case len(req.Args) > 3:
			local(req, "-ERR syntax error\r\n")
		case c.passwordOK(req.Args):
			if s != nil {
				s.authed = true
			}
			local(req, "+OK\r\n")
		default:
			if s != nil {
				s.authed = false
			}
			local(req, replyWrongPass)
		}
		return
	}
	if c.clientPassword == "" || s == nil || s.authed || req.Close {
		return
	}
	req.Keys = req.Keys[:0]
	local(req, replyNoAuth)
}

// passwordOK checks AUTH password, or AUTH default password (the
// ACL form, with the only user walnut knows), in constant time.
func (c *Codec) passwordOK(args [][]byte) bool {
	pass := args[1]
	if len(args) == 3 {
		if string(args[1]) != "default" {
			return false
		}
		pass = args[2]
	}
	return subtle.ConstantTimeCompare(pass, []byte(c.clientPassword)) == 1
}

// Greeting implements protocols.Greeter: AUTH and SELECT on every new
// server connection, when the pool sets redis_auth and redis_db.
func (c *Codec) Greeting() ([]byte, int) {
	return c.greeting, len(c.greetingNames)
}

// buildGreeting returns the setup requests and, for messages, what each
// is called (never the password).
func buildGreeting(o protocols.Options) ([]byte, []string) {
	var g []byte
	var names []string
	if o.ServerPassword != "" {
		g = append(g, "*2\r\n$4\r\nAUTH\r\n"...)
		g = appendBulk(g, []byte(o.ServerPassword))
		names = append(names, "AUTH")
	}
	if o.Database != 0 {
		db := strconv.Itoa(o.Database)
		g = append(g, "*2\r\n$6\r\nSELECT\r\n"...)
		g = appendBulk(g, []byte(db))
		names = append(names, "SELECT "+db)
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
		reply := bytes.TrimSpace(buf[:n])
		if len(reply) > 0 && (reply[0] == '-' || reply[0] == '+') {
			reply = reply[1:]
		}
		return n, fmt.Errorf("%s refused by the server: %s", what, reply)
	}
	return n, nil
}
