package fakeproto

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

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
	return c, nil
}

// Commands, as Request.Cmd. 0 stands for no client command: the core
// frames the reply to a state switch with a zero Request.
const (
	cmdSwitch uint16 = iota
	cmdGet
	cmdSet
	cmdEcho
	cmdJoin
	cmdMGet
	cmdDel
	cmdCount
	cmdWho
	cmdSleep
	cmdCrash
	cmdBlock
	cmdPin
	cmdUnpin
	cmdSub
	cmdUnsub
	cmdPub
	cmdPing
	cmdQuit
	cmdUse
	cmdInfo
	cmdUnknown
)

var families = []string{"switch", "get", "set", "echo", "join", "mget", "del", "count", "who", "sleep", "crash",
	"block", "pin", "unpin", "sub", "unsub", "pub", "ping", "quit", "use", "info", "unknown"}

// command is how a command parses.
type command struct {
	cmd      uint16
	kind     protocols.Kind
	min, max int // arguments; max -1 for no bound
	keys     int // how many of the first arguments are keys; -1: all
}

var commands = map[string]command{
	"GET":   {cmdGet, protocols.Forward, 1, 1, 1},
	"SET":   {cmdSet, protocols.Forward, 2, 2, 1},
	"ECHO":  {cmdEcho, protocols.Forward, 2, 2, 1},
	"JOIN":  {cmdJoin, protocols.Forward, 2, 2, 2},
	"SLEEP": {cmdSleep, protocols.Forward, 2, 2, 1},
	"CRASH": {cmdCrash, protocols.Forward, 1, 1, 1},
	"BLOCK": {cmdBlock, protocols.Forward, 2, 2, 1},
	"PUB":   {cmdPub, protocols.Forward, 2, 2, 1},
	"UNPIN": {cmdUnpin, protocols.Forward, 0, 0, 0},
	"UNSUB": {cmdUnsub, protocols.Forward, 0, 0, 0},
	"MGET":  {cmdMGet, protocols.Split, 1, -1, -1},
	"DEL":   {cmdDel, protocols.Split, 1, -1, -1},
	"SUB":   {cmdSub, protocols.Split, 1, -1, -1},
	"COUNT": {cmdCount, protocols.Broadcast, 0, 0, 0},
	"WHO":   {cmdWho, protocols.Targeted, 1, 1, 0},
	"PING":  {cmdPing, protocols.Local, 0, 0, 0},
	"QUIT":  {cmdQuit, protocols.Local, 0, 0, 0},
	"INFO":  {cmdInfo, protocols.Local, 0, 0, 0},
	"USE":   {cmdUse, protocols.Local, 1, 1, 0},
	"PIN":   {cmdPin, protocols.Local, 0, 0, 0},
}

// Codec is the protocol as the core sees it.
type Codec struct {
	hello []byte
	info  func() protocols.ProxyInfo
}

var (
	_ protocols.Codec         = (*Codec)(nil)
	_ protocols.Sessions      = (*Codec)(nil)
	_ protocols.Greeter       = (*Codec)(nil)
	_ protocols.StateSwitcher = (*Codec)(nil)
	_ protocols.HealthChecker = (*Codec)(nil)
	_ protocols.Classifier    = (*Codec)(nil)
	_ protocols.Pusher        = (*Codec)(nil)
	_ protocols.ReadThrough   = (*Codec)(nil)
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
	ReplyPong      = "PONG\n"
	ReplyBye       = "BYE\n"
	ReplyOK        = "OK\n"
	ReplyUnknown   = "ERR unknown command\n"
	ReplyDone      = "DONE\n"
	ReplyMismatch  = "ERR reply does not match the keys\n"
	ReplyNotPinned = "ERR not pinned\n"
)

// session is a client's state between requests.
type session struct {
	state  int  // the connection state its requests need (USE)
	pinned bool // PIN: its requests go on a connection of its own
	leased bool // a pinned request with keys went out: a connection is held
}

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
	cmd, ok := commands[string(name)]
	if !ok {
		req.Cmd, req.Kind = cmdUnknown, protocols.Local
		req.Reply = append(req.Reply, ReplyUnknown...)
		return n, nil
	}
	args := req.Args
	if len(args) < cmd.min || cmd.max >= 0 && len(args) > cmd.max {
		return 0, ErrArity
	}
	var num int
	switch cmd.cmd {
	case cmdSleep, cmdBlock, cmdWho, cmdUse:
		if num, ok = atoi(args[len(args)-1]); !ok {
			return 0, ErrNotNumber
		}
	}
	s, _ := req.Session.(*session)
	if s == nil {
		s = new(session)
	}
	req.Cmd, req.Kind = cmd.cmd, cmd.kind
	if cmd.keys < 0 {
		req.Keys = append(req.Keys, args...)
	} else {
		req.Keys = append(req.Keys, args[:cmd.keys]...)
	}
	switch cmd.cmd {
	case cmdWho:
		req.Target = num
	case cmdBlock:
		req.Conn, req.Block = protocols.Once, time.Duration(num)*time.Millisecond
	case cmdPing:
		req.Reply = append(req.Reply, ReplyPong...)
	case cmdQuit:
		req.Reply, req.Close = append(req.Reply, ReplyBye...), true
	case cmdInfo:
		req.Reply = c.appendInfo(req.Reply)
	case cmdUse:
		s.state = num
		req.Reply = append(req.Reply, ReplyOK...)
	case cmdPin:
		// The lease starts here; its server is the first keys'.
		s.pinned, s.leased = true, false
		req.Conn, req.Reply = protocols.Pinned, append(req.Reply, ReplyOK...)
	case cmdUnpin:
		switch {
		case !s.pinned:
			req.Kind, req.Reply = protocols.Local, append(req.Reply, ReplyNotPinned...)
		case !s.leased:
			// Nothing went to a server: the lease ends here.
			req.Kind, req.Conn, req.Release = protocols.Local, protocols.Pinned, true
			req.Reply = append(req.Reply, ReplyOK...)
		default:
			req.Conn, req.Release = protocols.Pinned, true
		}
		s.pinned, s.leased = false, false
	case cmdSub:
		req.Conn = protocols.Subscribed
	case cmdUnsub:
		req.Conn, req.Held, req.Release = protocols.Subscribed, true, true
	}
	if s.pinned && req.Conn == protocols.Shared && len(req.Keys) > 0 {
		req.Conn, s.leased = protocols.Pinned, true
	}
	if req.Kind != protocols.Local {
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

var cmdNames = [...]string{cmdMGet: "MGET", cmdDel: "DEL", cmdSub: "SUB"}

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
	case cmdSwitch, cmdSet, cmdSleep, cmdCrash, cmdBlock, cmdUnpin:
		ok = string(word) == "OK"
	case cmdGet:
		ok = string(word) == "VAL" || string(word) == "NIL"
	case cmdEcho, cmdJoin:
		ok = string(word) == "VAL"
	case cmdMGet:
		ok = string(word) == "VALS"
	case cmdDel, cmdCount, cmdPub:
		ok = string(word) == "INT"
	case cmdSub, cmdUnsub:
		ok = string(word) == "SUBD"
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
	if req.Cmd == cmdSub || req.Cmd == cmdUnsub {
		// The subscriptions of every connection the request went on.
		return appendSum(dst, parts, "SUBD")
	}
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
		return appendSum(dst, parts, "INT")
	case protocols.Split:
		if req.Cmd == cmdMGet {
			return appendMGet(dst, req, parts)
		}
		if len(parts) > 1 {
			return appendSum(dst, parts, "INT")
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

// appendSum adds up the parts' counts, replies that start with word. A
// failed part fails the whole: a client cannot be told a count that
// misses a server.
func appendSum(dst []byte, parts []protocols.Part, word string) []byte {
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
	dst = append(append(dst, word...), ' ')
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
	if pe, ok := protocols.AsProtocolError(err); ok {
		return appendText(append(dst, "CLIENT_ERROR "...), pe.Msg)
	}
	return appendErr(dst, err)
}

// appendText appends s on one line: a line end inside would be read as
// the end of the reply.
func appendText(dst []byte, s string) []byte {
	return append(protocols.AppendOneLine(dst, s), '\n')
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

// SwitchState implements protocols.StateSwitcher: a state is a mode
// (its thousands) and a sub-state (the rest), switched with MODE m and
// SWITCH n, each only when it changes, so that a switch may take one
// request or two.
func (c *Codec) SwitchState(dst []byte, from, to int) ([]byte, int) {
	n := 0
	if from/modeStates != to/modeStates {
		dst = strconv.AppendInt(append(dst, "MODE "...), int64(to/modeStates), 10)
		dst = append(dst, '\n')
		n++
	}
	if from%modeStates != to%modeStates {
		dst = strconv.AppendInt(append(dst, "SWITCH "...), int64(to%modeStates), 10)
		dst = append(dst, '\n')
		n++
	}
	return dst, n
}

// modeStates is how many states a mode has.
const modeStates = 1000

// SwitchReply implements protocols.StateSwitcher.
func (c *Codec) SwitchReply(from, to, i int, resp []byte) error {
	l, _ := line(resp)
	if string(l) != "OK" {
		if i == 0 && from/modeStates != to/modeStates {
			return fmt.Errorf("switch to mode %d refused: %s", to/modeStates, l)
		}
		return fmt.Errorf("switch to state %d refused: %s", to, l)
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

// PushLen implements protocols.Pusher: a server sends MSG lines unasked
// on a connection that subscribed.
func (c *Codec) PushLen(buf []byte) (int, error) {
	l, n := line(buf)
	if n == 0 {
		return 0, nil
	}
	if !bytes.HasPrefix(l, []byte("MSG ")) {
		return 0, errUnexpected
	}
	return n, nil
}

// Through implements protocols.ReadThrough: reads of values read
// through to the old servers of a reshard, deletes reach both.
func (c *Codec) Through(req *protocols.Request) protocols.Through {
	switch req.Cmd {
	case cmdGet, cmdMGet:
		return protocols.ThroughRead
	case cmdDel:
		return protocols.ThroughDelete
	}
	return protocols.ThroughNone
}

// Missed implements protocols.ReadThrough.
func (c *Codec) Missed(req *protocols.Request, resp []byte) bool {
	l, _ := line(resp)
	switch string(l) {
	case "NIL", "VALS -", "INT 0":
		return true
	}
	return false
}
