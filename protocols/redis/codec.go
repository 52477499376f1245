package redis

import (
	"errors"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

func init() {
	protocols.Register("redis", driver{})
}

// Codec is the Redis (RESP2) codec. It holds only the pool's limits, so
// one value serves every connection of a pool concurrently.
type Codec struct {
	// maxBulk bounds one argument of a request; maxReplyBulk one value of
	// a reply; maxRequest (0: no limit) a whole request.
	maxBulk      int
	maxReplyBulk int
	maxRequest   int

	clientPassword string
	greeting       []byte
	greetingNames  []string

	// db is the pool's database (redis_db), the one a new client is in;
	// databases is how many the servers have.
	db, databases int
	allowFlush    bool
	info          func() protocols.ProxyInfo
	blocks        *blockRegistry
	// tag is the pool's hash_tag, if it has one (hasTag), for SORT's
	// patterns (sortpatterns.go).
	tag    [2]byte
	hasTag bool

	// fn is what the pool keeps on every server: functions and scripts
	// (registry.go), shared with the codecs a reload makes after this one.
	fn *registry
}

// New returns a codec for a pool with the given limits and, in o.Own,
// its *Options (nil: the defaults). A zero limit is unset: arguments and
// values are then bounded by Redis' default proto-max-bulk-len (512 MiB).
func New(o protocols.Options) (*Codec, error) {
	if o.MaxRequestSize < 0 || o.MaxValueSize < 0 {
		return nil, errors.New("redis: negative size limit")
	}
	own := OptionsOf(o.Own)
	if err := own.validate(); err != nil {
		return nil, err
	}
	c := &Codec{maxBulk: defaultMaxBulk, maxReplyBulk: defaultMaxBulk, maxRequest: o.MaxRequestSize,
		clientPassword: own.Password, db: own.DB, databases: own.Databases, allowFlush: own.AllowFlush,
		info: o.Info, blocks: &blockRegistry{}}
	if len(o.HashTag) == 2 {
		c.tag, c.hasTag = [2]byte{o.HashTag[0], o.HashTag[1]}, true
	}
	c.greeting, c.greetingNames = buildGreeting(own)
	c.fn = newRegistry(o.Log, o.Reprime)
	if o.MaxRequestSize > 0 {
		c.maxBulk = min(c.maxBulk, o.MaxRequestSize)
		c.maxReplyBulk = min(c.maxReplyBulk, o.MaxRequestSize)
	}
	if o.MaxValueSize > 0 {
		c.maxBulk = min(c.maxBulk, o.MaxValueSize)
		c.maxReplyBulk = o.MaxValueSize
	}
	return c, nil
}

// Request.Flags bits.
const (
	// reqInline marks a request that came as an inline command, so it is
	// re-encoded as RESP when forwarded rather than copied.
	reqInline = 1 << iota
	// reqRewrite marks a request that is not forwarded as it came:
	// SCAN's cursor is the server's own, INFO servers loses "servers".
	reqRewrite
	// reqConn marks a request for connCommand: one that reads or
	// changes the client's session or depends on the pool's settings.
	reqConn
	// reqArity marks an arity error answered locally.
	reqArity
	// Transactions (dedicated.go): a command queued inside MULTI, WATCH,
	// and the requests that end the lease; reqAbort: EXEC must abort for
	// an error while queuing, reqAborted: it did (set at dispatch);
	// reqPrefixed: MULTI went out just before the request; reqRefusal:
	// the core refused the request and Reply holds the answer. reqPrefixed
	// also marks a blocking command that CLIENT ID goes ahead of
	// (clientcmds.go).
	reqQueued
	reqWatch
	reqExec
	reqDiscard
	reqUnwatch
	reqAbort
	reqAborted
	reqPrefixed
	reqRefusal
	reqExecArity // an EXEC with the wrong arguments: it aborts with Redis' own text
	// reqResp3: the client spoke RESP3 when it sent the request, so its
	// reply, walnut's own or merged, takes RESP3's forms (resp3.go).
	reqResp3
)

// ParseRequest implements protocols.Codec. Args receives every argument
// (the command name first), Keys the routing keys.
func (c *Codec) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if buf[0] == '*' {
		req.Args, n, err = c.parseMultibulk(buf, req.Args[:0])
	} else {
		req.Args, n, err = c.parseInline(buf, req.Args[:0])
		req.Flags |= reqInline
	}
	if n == 0 || err != nil {
		req.Args = req.Args[:0]
		req.Flags = 0
		return 0, err
	}
	req.Raw = buf[:n:n]
	s, _ := req.Session.(*session)
	if s != nil && s.resp3 {
		req.Flags |= reqResp3
	}
	route(req)
	if policies[req.Cmd].hook == hookSort && req.Kind == protocols.Forward && req.Servers != 1 {
		c.sortPatterns(req)
	}
	if req.Kind == protocols.Targeted && scriptHook(req.Cmd) {
		c.routeKeyless(req)
	}
	if s != nil && !s.authed && c.clientPassword != "" && !allowedUnauthenticated(req) {
		req.Keys = req.Keys[:0]
		req.Flags &^= reqConn | reqRewrite
		local(req, replyNoAuth)
		return n, nil
	}
	if s != nil && (s.db != c.db || s.resp3) && req.ConnState == 0 {
		// Another database than the pool's, or RESP3: the core SELECTs
		// it, or says HELLO 3, on the connection the request goes on,
		// shared or dedicated. Taken before connCommand, so that a RESET
		// that ends a transaction reaches its connection in the
		// transaction's database and protocol. (route leaves
		// protocols.AnyState to what runs in any state.)
		req.ConnState = c.connState(s.db, s.resp3)
	}
	if withSession(policies[req.Cmd].act) || busy(s) {
		// Inside a transaction or subscribed, dedicate decides about the
		// connection commands too, before connCommand sees them.
		c.dedicate(req)
	}
	if req.Flags&reqConn != 0 {
		c.connCommand(req, s)
	}
	if s != nil && (s.replyOff || s.replySkip || s.replySkipNext) {
		muteFor(req, s)
	}
	return n, nil
}

// route decides how req is served and fills Kind, Cmd, Keys and, for a
// Local request, Reply.
func route(req *protocols.Request) {
	args := req.Args
	if len(args) == 0 {
		// An empty line or "*0": Redis reads on without a reply.
		req.Kind = protocols.Local
		return
	}
	idx, cont := lookup(args)
	if idx < 0 && cont >= 0 && len(args) == 1 && policies[cont].act != actUnsupported {
		// A container that is a command on its own too (COMMAND).
		idx = cont
	}
	if idx < 0 {
		if cont >= 0 && len(args) == 1 {
			// Redis finds the container, whose arity wants a subcommand.
			arityError(req, commandTable[cont].name)
			return
		}
		unknownCommand(req, args, cont)
		return
	}
	ci, p := &commandTable[idx], &policies[idx]
	req.Cmd = uint16(idx)
	if a := int(ci.arity); (a > 0 && len(args) != a) || len(args) < -a {
		arityError(req, ci.name)
		return
	}
	if p.act == actUnsupported {
		refuse(req, idx, cont >= 0)
		return
	}
	if req.Servers == 1 && relayOnOne(p.act) {
		relay(req)
		return
	}
	switch p.act {
	case actForward:
		switch p.hook {
		case hookNone:
		case hookEval, hookFcall:
			if !numkeysCheck(req, p) {
				return
			}
		case hookSort:
			req.Keys = sortKeys(req.Keys[:0], args)
			req.Kind = protocols.Forward
			return
		case hookCopy:
			if hasDBOption(args) {
				unsupported(req, args, false)
				return
			}
		}
		if p.single > 0 {
			req.Keys = append(req.Keys[:0], args[p.single])
			req.Kind = protocols.Forward
			return
		}
		req.Keys = appendKeys(req.Keys[:0], ci, args)
		if len(req.Keys) == 0 {
			// Say, ZUNION 0 k or LMPOP x: an argument error, which any
			// server states in its own words.
			relay(req)
			return
		}
		req.Kind = protocols.Forward
	case actMGet, actSumInt, actMSet:
		if p.act == actMSet && len(args)%2 == 0 {
			arityError(req, ci.name)
			return
		}
		keys := req.Keys[:0]
		for i := 1; i < len(args); i += p.step {
			keys = append(keys, args[i])
		}
		req.Keys = keys
		req.Kind = protocols.Split
	case actPing:
		switch len(args) {
		case 1:
			local(req, "+PONG\r\n")
		case 2:
			req.Kind = protocols.Local
			req.Reply = appendBulk(req.Reply[:0], args[1])
		default:
			arityError(req, ci.name)
		}
	case actQuit:
		local(req, "+OK\r\n")
		req.Close = true
	case actPlaceholder:
		placeholder(req, idx)
	case actKeys, actDBSize, actRandomKey, actScriptLoad, actScriptExists, actScriptFlush, actLastSave,
		actPubSubChannels, actPubSubNumSub, actPubSubNumPat:
		req.Kind = protocols.Broadcast
	case actRelay:
		relay(req)
	case actFunctionLoad, actFunctionDelete, actFunctionFlush, actFunctionRestore, actFunctionList,
		actFunctionDump, actFunctionStats, actFunctionHelp, actScriptKill:
		routeFunction(req, p.act)
	case actScan:
		routeScan(req)
	case actTime:
		req.Kind = protocols.Targeted
	case actEcho:
		req.Kind = protocols.Local
		req.Reply = appendBulk(req.Reply[:0], args[1])
	case actCommand, actCommandCount, actCommandInfo, actCommandDocs, actCommandList, actCommandGetKeys:
		commandReply(req, p.act)
	case actWatch, actBlock, actXRead:
		req.Keys = appendKeys(req.Keys[:0], ci, args)
		if len(req.Keys) == 0 {
			relay(req) // BZMPOP 0 0 ...: the server refuses it at once
			return
		}
		req.Kind = protocols.Forward
	case actPublish:
		// The channel is routed like a key: subscribers to it are on the
		// server it hashes to (and pattern subscribers on every server).
		req.Keys = append(req.Keys[:0], args[1])
		req.Kind = protocols.Forward
	case actSubscribe:
		req.Keys = append(req.Keys[:0], args[1:]...)
		req.Kind = protocols.Split
	default:
		switch {
		case needsCodec(p.act):
			req.Kind = protocols.Local
			req.Flags |= reqConn
		case withSession(p.act):
			// Transactions and the rest of pub/sub: dedicate decides, with
			// the client's session.
			req.Kind = protocols.Forward
		}
	}
}

// placeholderKey routes what has no key but goes to a server anyway
// (LOLWUT), as nutcracker routes it. nutcracker sends COMMAND there too;
// walnut answers it with its own table (command.go).
var placeholderKey = []byte("placeholder")

func placeholder(req *protocols.Request, idx int) {
	req.Cmd = uint16(idx)
	req.Keys = append(req.Keys[:0], placeholderKey)
	req.Kind = protocols.Forward
}

func local(req *protocols.Request, reply string) {
	req.Kind = protocols.Local
	req.Reply = append(req.Reply[:0], reply...)
}

func localError(req *protocols.Request, a, b, c string) {
	req.Kind = protocols.Local
	r := append(req.Reply[:0], "-ERR "...)
	r = append(r, a...)
	r = append(r, b...)
	r = append(r, c...)
	req.Reply = append(r, "\r\n"...)
}

// arityError answers with Redis' text, which names the command in lower
// case as "container|sub" for a subcommand.
func arityError(req *protocols.Request, name string) {
	localError(req, "wrong number of arguments for '", name, "' command")
	req.Flags |= reqArity
}

// unsupported answers "-ERR unsupported command 'NAME'", NAME as the
// client wrote it (with its subcommand for a container).
func unsupported(req *protocols.Request, args [][]byte, withSub bool) {
	req.Kind = protocols.Local
	r := append(req.Reply[:0], "-ERR unsupported command '"...)
	r = appendSanitized(r, args[0], 128)
	if withSub && len(args) > 1 {
		r = append(r, ' ')
		r = appendSanitized(r, args[1], 128)
	}
	req.Reply = append(r, "'\r\n"...)
}

// appendSanitized appends at most max bytes of s, with CR and LF (which
// would end the error line early) turned into spaces.
func appendSanitized(dst, s []byte, max int) []byte {
	if len(s) > max {
		s = s[:max]
	}
	for _, c := range s {
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

func appendBulk(dst, b []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

func appendCount(dst []byte, t byte, n int) []byte {
	dst = append(dst, t)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendRequest implements protocols.Codec. A part is rebuilt as the same
// command over its keys (with their values, for MSET), under the command
// name as the client spelled it.
func (c *Codec) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	if req.Conn >= protocols.Pinned {
		return c.appendDedicated(dst, req, keys)
	}
	if req.Conn == protocols.Once && req.Flags&reqPrefixed != 0 {
		dst = append(dst, clientIDReq...) // for CLIENT UNBLOCK (clientcmds.go)
	}
	return c.appendCommand(dst, req, keys)
}

// appendCommand appends req, or the part of it for keys, as a command.
func (c *Codec) appendCommand(dst []byte, req *protocols.Request, keys []int32) []byte {
	if keys == nil {
		if req.Flags&(reqInline|reqRewrite) == 0 {
			return append(dst, req.Raw...)
		}
		if req.Flags&reqRewrite != 0 {
			return c.appendRewritten(dst, req)
		}
		dst = appendCount(dst, '*', len(req.Args))
		for _, a := range req.Args {
			dst = appendBulk(dst, a)
		}
		return dst
	}
	step := policies[req.Cmd].step
	dst = appendCount(dst, '*', 1+len(keys)*step)
	dst = appendBulk(dst, req.Args[0])
	for _, k := range keys {
		at := 1 + int(k)*step
		for j := 0; j < step; j++ {
			dst = appendBulk(dst, req.Args[at+j])
		}
	}
	return dst
}

// ParseResponse implements protocols.Codec.
func (c *Codec) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	if req != nil && (req.Conn >= protocols.Pinned || req.Flags&reqPrefixed != 0) {
		return c.dedicatedLen(buf, req)
	}
	if req != nil && req.Flags&reqRewrite != 0 && twoReplies(req) {
		return c.pairLen(buf)
	}
	return replyLen(buf, c.maxReplyBulk)
}

// AppendError implements protocols.Codec.
func (c *Codec) AppendError(dst []byte, err error) []byte {
	if cs, ok := err.(*protocols.CrossServerError); ok {
		return appendCrossServer(dst, cs)
	}
	dst = append(dst, "-ERR "...)
	if pe, ok := protocols.AsProtocolError(err); ok {
		dst = append(dst, "Protocol error: "...)
		return appendErrText(dst, pe.Msg)
	}
	return appendErrText(dst, err.Error())
}

// appendErrText appends s as the rest of an error line.
func appendErrText(dst []byte, s string) []byte {
	return append(protocols.AppendOneLine(dst, s), '\r', '\n')
}

// appendCrossServer names the command and the keys that do not share a
// server: -ERR keys of EVAL are on different servers: "b" is not with
// "a" (use a hash tag).
func appendCrossServer(dst []byte, e *protocols.CrossServerError) []byte {
	dst = append(dst, "-ERR keys of "...)
	if int(e.Cmd) < len(policies) {
		for _, ch := range []byte(policies[e.Cmd].upper) {
			if ch == '|' {
				ch = ' '
			}
			dst = append(dst, ch)
		}
	} else {
		dst = append(dst, "the command"...)
	}
	dst = append(dst, " are on different servers: "...)
	dst = strconv.AppendQuote(dst, e.Key)
	dst = append(dst, " is not with "...)
	dst = strconv.AppendQuote(dst, e.First)
	return append(dst, " (use a hash tag)\r\n"...)
}
