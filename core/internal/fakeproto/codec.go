package fakeproto

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// Name is the protocol's name in a pool's configuration.
const Name = "fake"

func init() { protocols.Register(Name, driver{}) }

// Options are the pool keys the protocol reads.
type Options struct {
	// Hello, when set, is the token new server connections are greeted
	// with (fake_hello).
	Hello string
}

type driver struct{}

// DecodeOptions implements protocols.OptionsDecoder: a pool may ask for
// a greeting, so that tests can make a server refuse one.
func (driver) DecodeOptions(t protocols.OptionTable) any {
	return Options{Hello: t.String("fake_hello", "")}
}

func (driver) NewCodec(o protocols.Options) (protocols.Codec, error) {
	c := &Codec{info: o.Info}
	if own, ok := o.Own.(Options); ok && own.Hello != "" {
		c.hello = []byte("HELLO " + own.Hello + "\n")
	}
	for i := range c.switches {
		c.switches[i] = fmt.Appendf(nil, "SWITCH %d\n", i)
	}
	return c, nil
}

// Commands, as Request.Cmd. 0 stands for no client command: the core
// frames the reply to a state switch with a zero Request.
const (
	cmdSwitch uint16 = iota
	cmdGet
	cmdSet
	cmdEcho
	cmdMGet
	cmdDel
	cmdCount
	cmdWho
	cmdSleep
	cmdCrash
	cmdPing
	cmdQuit
	cmdUse
	cmdInfo
	cmdUnknown
)

var families = []string{"switch", "get", "set", "echo", "mget", "del", "count", "who", "sleep", "crash",
	"ping", "quit", "use", "info", "unknown"}

// Codec is the protocol as the core sees it.
type Codec struct {
	hello    []byte
	info     func() protocols.ProxyInfo
	switches [16][]byte // SWITCH n for the common states, made once
}

var (
	_ protocols.Codec         = (*Codec)(nil)
	_ protocols.Sessions      = (*Codec)(nil)
	_ protocols.Greeter       = (*Codec)(nil)
	_ protocols.StateSwitcher = (*Codec)(nil)
	_ protocols.HealthChecker = (*Codec)(nil)
	_ protocols.Classifier    = (*Codec)(nil)
)

// Parse errors, made once so that a bad request costs no allocation.
var (
	ErrEmpty      = protocols.Errorf("empty request")
	ErrBadByte    = protocols.Errorf("byte outside printable ASCII")
	ErrEmptyToken = protocols.Errorf("empty token")
	ErrArity      = protocols.Errorf("wrong number of arguments")
	ErrNotNumber  = protocols.Errorf("argument is not a number")

	errUnexpected = protocols.Errorf("response does not answer the request")
)

// Replies of the codec's own.
const (
	ReplyPong     = "PONG\n"
	ReplyBye      = "BYE\n"
	ReplyOK       = "OK\n"
	ReplyUnknown  = "ERR unknown command\n"
	ReplyDone     = "DONE\n"
	ReplyMismatch = "ERR reply does not match the keys\n"
)

// session is a client's state between requests: the connection state
// its requests need.
type session struct{ state int }

// NewSession implements protocols.Sessions.
func (c *Codec) NewSession() any { return &session{} }

// MarshalSession implements protocols.Sessions.
func (c *Codec) MarshalSession(s any) []byte {
	ss, _ := s.(*session)
	if ss == nil {
		return nil
	}
	return strconv.AppendInt(nil, int64(ss.state), 10)
}

// UnmarshalSession implements protocols.Sessions.
func (c *Codec) UnmarshalSession(b []byte) any {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return &session{}
	}
	return &session{state: n}
}

// cut splits the first token off s.
func cut(s []byte) (tok, rest []byte, more bool) {
	i := bytes.IndexByte(s, ' ')
	if i < 0 {
		return s, nil, false
	}
	return s[:i], s[i+1:], true
}

// atoi reads a small non-negative decimal number.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// line returns the message at the start of buf without its line end,
// and its length with it; n is 0 if buf holds no whole line.
func line(buf []byte) (l []byte, n int) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return nil, 0
	}
	l = buf[:i]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l, i + 1
}

// ParseRequest implements protocols.Codec. Args receives the arguments
// after the command name.
func (c *Codec) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	l, n := line(buf)
	if n == 0 {
		return 0, nil
	}
	if len(l) == 0 {
		return 0, ErrEmpty
	}
	for _, b := range l {
		if b < ' ' || b > '~' {
			return 0, ErrBadByte
		}
	}
	req.Raw = buf[:n:n]
	name, rest, more := cut(l)
	for more {
		var tok []byte
		tok, rest, more = cut(rest)
		if len(tok) == 0 {
			return 0, ErrEmptyToken
		}
		req.Args = append(req.Args, tok)
	}
	if len(name) == 0 {
		return 0, ErrEmptyToken
	}
	args := req.Args
	arity := func(min, max int) bool { return len(args) >= min && (max < 0 || len(args) <= max) }
	req.Kind = protocols.Forward
	switch string(name) {
	case "GET":
		req.Cmd = cmdGet
		if !arity(1, 1) {
			return 0, ErrArity
		}
	case "SET":
		req.Cmd = cmdSet
		if !arity(2, 2) {
			return 0, ErrArity
		}
	case "ECHO":
		req.Cmd = cmdEcho
		if !arity(2, 2) {
			return 0, ErrArity
		}
	case "SLEEP":
		req.Cmd = cmdSleep
		if !arity(2, 2) {
			return 0, ErrArity
		}
		if _, ok := atoi(args[1]); !ok {
			return 0, ErrNotNumber
		}
	case "CRASH":
		req.Cmd = cmdCrash
		if !arity(1, 1) {
			return 0, ErrArity
		}
	case "MGET", "DEL":
		req.Cmd, req.Kind = cmdMGet, protocols.Split
		if name[0] == 'D' {
			req.Cmd = cmdDel
		}
		if !arity(1, -1) {
			return 0, ErrArity
		}
		req.Keys = append(req.Keys, args...)
	case "COUNT":
		req.Cmd, req.Kind = cmdCount, protocols.Broadcast
		if !arity(0, 0) {
			return 0, ErrArity
		}
	case "WHO":
		req.Cmd, req.Kind = cmdWho, protocols.Targeted
		if !arity(1, 1) {
			return 0, ErrArity
		}
		t, ok := atoi(args[0])
		if !ok {
			return 0, ErrNotNumber
		}
		req.Target = t
	case "PING", "QUIT", "INFO":
		if !arity(0, 0) {
			return 0, ErrArity
		}
		req.Kind = protocols.Local
		switch name[0] {
		case 'P':
			req.Cmd, req.Reply = cmdPing, append(req.Reply, ReplyPong...)
		case 'Q':
			req.Cmd, req.Reply, req.Close = cmdQuit, append(req.Reply, ReplyBye...), true
		default:
			req.Cmd, req.Reply = cmdInfo, c.appendInfo(req.Reply)
		}
		return n, nil
	case "USE":
		req.Cmd, req.Kind = cmdUse, protocols.Local
		if !arity(1, 1) {
			return 0, ErrArity
		}
		state, ok := atoi(args[0])
		if !ok {
			return 0, ErrNotNumber
		}
		if s, _ := req.Session.(*session); s != nil {
			s.state = state
		}
		req.Reply = append(req.Reply, ReplyOK...)
		return n, nil
	default:
		req.Cmd, req.Kind = cmdUnknown, protocols.Local
		req.Reply = append(req.Reply, ReplyUnknown...)
		return n, nil
	}
	if req.Kind == protocols.Forward {
		req.Keys = append(req.Keys, args[0])
	}
	if s, _ := req.Session.(*session); s != nil {
		req.ConnState = s.state
	}
	return n, nil
}

// appendInfo is INFO's reply: what the core tells the codec of its pool.
func (c *Codec) appendInfo(dst []byte) []byte {
	if c.info == nil {
		return append(dst, "INFO\n"...)
	}
	in := c.info()
	return fmt.Appendf(dst, "INFO pool=%s clients=%d requests=%d servers=%d ejected=%d\n",
		in.Pool, in.Clients, in.Requests, in.Servers, in.Ejected)
}

var cmdNames = [...]string{cmdMGet: "MGET", cmdDel: "DEL"}

// AppendRequest implements protocols.Codec: a Split part carries the
// command with its keys only, a fan-out request a bare command.
func (c *Codec) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	switch {
	case req.Cmd == cmdCount:
		return append(dst, "COUNT\n"...)
	case req.Cmd == cmdWho:
		return append(dst, "WHO\n"...)
	case keys == nil:
		return append(dst, req.Raw...)
	}
	dst = append(dst, cmdNames[req.Cmd]...)
	for _, k := range keys {
		dst = append(append(dst, ' '), req.Keys[k]...)
	}
	return append(dst, '\n')
}

// ParseResponse implements protocols.Codec. A reply of another type
// than the request's (an INT to a GET) is an error, so that a server
// stream that is out of step is caught rather than passed on.
func (c *Codec) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	l, n := line(buf)
	if n == 0 {
		return 0, nil
	}
	word, _, _ := cut(l)
	if string(word) == "ERR" {
		return n, nil
	}
	ok := false
	switch req.Cmd {
	case cmdSwitch, cmdSet, cmdSleep, cmdCrash:
		ok = string(word) == "OK"
	case cmdGet:
		ok = string(word) == "VAL" || string(word) == "NIL"
	case cmdEcho:
		ok = string(word) == "VAL"
	case cmdMGet:
		ok = string(word) == "VALS"
	case cmdDel, cmdCount:
		ok = string(word) == "INT"
	case cmdWho:
		ok = string(word) == "ID"
	}
	if !ok {
		return 0, errUnexpected
	}
	return n, nil
}

// AppendReply implements protocols.Codec.
func (c *Codec) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	switch req.Kind {
	case protocols.Targeted:
		if len(parts) == 0 {
			return append(dst, ReplyDone...)
		}
		p := &parts[0]
		if p.Err != nil {
			return appendErr(dst, p.Err)
		}
		l, _ := line(p.Resp)
		_, name, _ := cut(l)
		dst = append(dst, "AT "...)
		dst = strconv.AppendInt(dst, int64(p.Server), 10)
		dst = append(append(append(dst, ' '), name...), '\n')
		return dst
	case protocols.Broadcast:
		return appendSum(dst, parts)
	case protocols.Split:
		if req.Cmd == cmdMGet {
			return appendMGet(dst, req, parts)
		}
		if len(parts) > 1 {
			return appendSum(dst, parts)
		}
	}
	if len(parts) != 1 {
		return append(dst, ReplyMismatch...)
	}
	if parts[0].Err != nil {
		return appendErr(dst, parts[0].Err)
	}
	return append(dst, parts[0].Resp...)
}

// appendSum adds up the parts' INT replies. A failed part fails the
// whole: a client cannot be told a count that misses a server.
func appendSum(dst []byte, parts []protocols.Part) []byte {
	sum := 0
	for i := range parts {
		p := &parts[i]
		if p.Err != nil {
			return appendErr(dst, p.Err)
		}
		l, _ := line(p.Resp)
		word, rest, _ := cut(l)
		if string(word) == "ERR" {
			return append(append(dst, l...), '\n')
		}
		n, ok := atoi(rest)
		if !ok {
			return append(dst, ReplyMismatch...)
		}
		sum += n
	}
	dst = append(dst, "INT "...)
	dst = strconv.AppendInt(dst, int64(sum), 10)
	return append(dst, '\n')
}

// appendMGet merges MGET's parts in key order: each key gets the token
// its server answered ("+value" or "-" for none), or "!" when its part
// failed, so that a test sees which keys went where.
func appendMGet(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	total := 0
	for i := range parts {
		p := &parts[i]
		n := len(p.Keys)
		if p.Keys == nil {
			n = len(req.Keys) // answered whole by one server
		}
		total += n
		if p.Err != nil || errReply(p.Resp) {
			continue
		}
		if tokens(p.Resp) != n {
			return append(dst, ReplyMismatch...)
		}
	}
	if total != len(req.Keys) {
		return append(dst, ReplyMismatch...)
	}
	start := len(dst)
	dst = append(dst, "VALS"...)
	for k := range req.Keys {
		tok, ok := mgetToken(parts, int32(k))
		if !ok {
			return append(dst[:start], ReplyMismatch...)
		}
		dst = append(append(dst, ' '), tok...)
	}
	return append(dst, '\n')
}

func errReply(resp []byte) bool { return bytes.HasPrefix(resp, []byte("ERR")) }

// tokens counts the values of a VALS reply.
func tokens(resp []byte) int {
	l, _ := line(resp)
	return bytes.Count(l, []byte{' '})
}

// mgetToken finds key k's token among the parts.
func mgetToken(parts []protocols.Part, k int32) ([]byte, bool) {
	for i := range parts {
		p := &parts[i]
		j := int(k) // a part with no key list carried them all
		if p.Keys != nil {
			if j = slices.Index(p.Keys, k); j < 0 {
				continue
			}
		}
		if p.Err != nil || errReply(p.Resp) {
			return []byte("!"), true
		}
		l, _ := line(p.Resp)
		_, rest, _ := cut(l)
		for ; j > 0; j-- {
			_, rest, _ = cut(rest)
		}
		tok, _, _ := cut(rest)
		return tok, true
	}
	return nil, false
}

// appendErr is a failed part's reply.
func appendErr(dst []byte, err error) []byte {
	return appendText(append(dst, "ERR "...), err.Error())
}

// AppendError implements protocols.Codec.
func (c *Codec) AppendError(dst []byte, err error) []byte {
	var pe *protocols.ProtocolError
	if errors.As(err, &pe) {
		return appendText(append(dst, "CLIENT_ERROR "...), pe.Msg)
	}
	return appendErr(dst, err)
}

// appendText appends s on one line: a line end inside would be read as
// the end of the reply.
func appendText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b == '\r' || b == '\n' {
			b = ' '
		}
		dst = append(dst, b)
	}
	return append(dst, '\n')
}

// Greeting implements protocols.Greeter.
func (c *Codec) Greeting() ([]byte, int) {
	if c.hello == nil {
		return nil, 0
	}
	return c.hello, 1
}

// GreetingReply implements protocols.Greeter.
func (c *Codec) GreetingReply(i int, buf []byte) (int, error) {
	l, n := line(buf)
	if n == 0 {
		return 0, nil
	}
	if string(l) != "OK" {
		return 0, fmt.Errorf("greeting refused: %s", l)
	}
	return n, nil
}

// SwitchState implements protocols.StateSwitcher.
func (c *Codec) SwitchState(state int) []byte {
	if state < len(c.switches) {
		return c.switches[state]
	}
	return fmt.Appendf(nil, "SWITCH %d\n", state)
}

// SwitchReply implements protocols.StateSwitcher.
func (c *Codec) SwitchReply(state int, resp []byte) error {
	l, _ := line(resp)
	if string(l) != "OK" {
		return fmt.Errorf("switch to state %d refused: %s", state, l)
	}
	return nil
}

// HealthProbe implements protocols.HealthChecker.
func (c *Codec) HealthProbe() []byte { return []byte("PING\n") }

// HealthReply implements protocols.HealthChecker: PONG is healthy, an
// ERR is a server that is up but not ready, anything else is malformed.
func (c *Codec) HealthReply(buf []byte) (int, bool, error) {
	l, n := line(buf)
	switch {
	case n == 0:
		return 0, false, nil
	case string(l) == "PONG":
		return n, true, nil
	case errReply(l):
		return n, false, nil
	}
	return 0, false, errUnexpected
}

// Families implements protocols.Classifier.
func (c *Codec) Families() []string { return families }

// Family implements protocols.Classifier.
func (c *Codec) Family(req *protocols.Request) int { return int(req.Cmd) }
