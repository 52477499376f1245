package redis

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.Leaser = (*Codec)(nil)

// Transactions through a sharding proxy. A transaction runs on one
// server, on a connection the client holds from its first WATCH or
// MULTI to its EXEC, DISCARD or UNWATCH (protocols.Pinned). MULTI names
// no key, so walnut answers it +OK itself and chooses the server at the
// transaction's first key: a WATCH, or the first queued command, which
// goes out behind a MULTI. Every later key must live on that server; a
// command whose keys do not is refused with an error saying so, and, as
// for any command Redis refuses while queuing, EXEC then answers
// EXECABORT (walnut sends DISCARD or UNWATCH in its place, so that the
// connection is left clean for the next client).
//
// The codec follows a transaction twice. As requests are parsed (a
// whole round before any is sent), it knows what the client asked:
// whether it is inside MULTI, whether a server will have been chosen.
// As the core dispatches them, in the same order, it learns what was
// sent: whether MULTI went out yet, whether a queued command was
// refused (Refused), and the key that chose the server, for messages.

// txState is a client's transaction.
type txState struct {
	// As requests are parsed.
	multi    bool // between MULTI and EXEC or DISCARD
	pinned   bool // a WATCH or a queued command since the lease began: EXEC and DISCARD go to its server
	parseErr bool // a command was refused while queuing: EXEC aborts
	// queued counts the commands queued since MULTI, on the server or
	// here; locals are the answers to those walnut answers itself, each
	// as ":position\r\n" and the answer, for EXEC's reply.
	queued int
	locals []byte
	// As requests are dispatched.
	multiSent bool   // MULTI went to the server
	dispErr   bool   // a queued command was refused
	pinKey    []byte // the first key sent on the connection
}

// endDispatch forgets what was sent of a transaction that ended.
func (tx *txState) endDispatch() {
	tx.multiSent, tx.dispErr = false, false
	tx.pinKey = tx.pinKey[:0]
}

// The requests walnut sends in the client's place.
var (
	multiReq   = []byte("*1\r\n$5\r\nMULTI\r\n")
	discardReq = []byte("*1\r\n$7\r\nDISCARD\r\n")
	unwatchReq = []byte("*1\r\n$7\r\nUNWATCH\r\n")
)

// Redis 7's texts.
const (
	replyExecAbort   = "-EXECABORT Transaction discarded because of previous errors.\r\n"
	replyNested      = "-ERR MULTI calls can not be nested\r\n"
	replyExecNoMulti = "-ERR EXEC without MULTI\r\n"
	replyDiscNoMulti = "-ERR DISCARD without MULTI\r\n"
	replyWatchMulti  = "-ERR WATCH inside MULTI is not allowed\r\n"
	replyNoMulti     = "-ERR Command not allowed inside a transaction\r\n"
	replyNoReplicas  = ":0\r\n"
	// An EXEC Redis refuses (wrong arguments) ends the transaction.
	replyExecArity = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
)

// busy reports whether the client's session is in a transaction or
// subscribed, when every request must go through dedicate.
func busy(s *session) bool {
	return s != nil && ((s.tx != nil && (s.tx.multi || s.tx.pinned)) || (s.sub != nil && s.sub.total() > 0))
}

// needsSession reports whether walnut can serve act only with the
// client's session: transactions and subscriptions.
func needsSession(act action) bool {
	return act >= actMulti && act < actBlock && act != actWait
}

// dedicate applies the client's session to req once route has parsed
// it: transactions, blocking commands, pub/sub.
func (c *Codec) dedicate(req *protocols.Request) {
	act := actUnsupported
	if req.Cmd != 0 {
		act = policies[req.Cmd].act
	}
	s, _ := req.Session.(*session)
	if act == actReset && req.Flags&reqConn != 0 {
		return // connCommand's reset ends the transaction and subscriptions
	}
	switch {
	case s == nil:
		if req.Kind != protocols.Local && needsSession(act) {
			// Without a session there is no telling what a client is
			// in; only a codec used outside the core has none.
			req.Keys = req.Keys[:0]
			unsupported(req, req.Args, false)
			return
		}
	case s.sub != nil && s.sub.total() > 0 && !s.resp3:
		// A RESP2 subscriber; one in RESP3 may send any command, as in
		// Redis, and its pushes cannot be mistaken for replies.
		c.subscribedMode(req, s, act)
		return
	case s.tx != nil && s.tx.multi:
		c.queue(req, s, act)
		return
	}
	if req.Kind == protocols.Local {
		if act == actExec && req.Flags&reqArity != 0 {
			// Redis answers EXEC's wrong arguments as an aborted
			// transaction, inside MULTI or not (rejectCommand).
			local(req, replyExecArity)
		}
		return
	}
	switch act {
	case actMulti:
		tx := s.transaction()
		tx.multi, tx.parseErr = true, false
		tx.queued, tx.locals = 0, tx.locals[:0]
		local(req, "+OK\r\n")
		req.Conn = protocols.Pinned
	case actExec:
		local(req, replyExecNoMulti)
	case actDiscard:
		local(req, replyDiscNoMulti)
	case actWatch:
		s.transaction().pinned = true
		req.Conn = protocols.Pinned
		req.Flags |= reqWatch
	case actUnwatch:
		if s.tx == nil || !s.tx.pinned {
			local(req, "+OK\r\n")
			return
		}
		s.tx.pinned = false
		req.Keys = req.Keys[:0]
		req.Conn, req.Release = protocols.Pinned, true
		req.Flags |= reqUnwatch
	case actWait:
		local(req, waitReply(req.Args))
	case actBlock, actXRead:
		if !relayed(req) {
			blocking(req, act)
		}
		if req.Conn == protocols.Once {
			c.register(req, s)
		}
	case actSubscribe, actUnsubscribe, actPSubscribe, actPUnsubscribe:
		c.subscribe(req, s.subscriptions(), act)
	}
}

// waitReply answers WAIT numreplicas timeout outside a transaction: its
// arguments checked in Redis' order and words (waitCommand), then 0.
func waitReply(args [][]byte) string {
	if _, ok := parseInt(args[1]); !ok {
		return replyNotInteger
	}
	switch t, ok := parseInt(args[2]); {
	case !ok:
		return "-ERR timeout is not an integer or out of range\r\n"
	case t < 0:
		return "-ERR timeout is negative\r\n"
	}
	return replyNoReplicas
}

func (s *session) transaction() *txState {
	if s.tx == nil {
		s.tx = &txState{}
	}
	return s.tx
}

// queue handles a request inside MULTI: queued on the transaction's
// connection, or refused, which makes EXEC abort.
func (c *Codec) queue(req *protocols.Request, s *session, act action) {
	tx := s.tx
	if req.Kind == protocols.Local && act == actExec && req.Flags&reqArity != 0 {
		c.endTransaction(req, tx, actExec, true)
		req.Flags |= reqExecArity
		if req.Kind == protocols.Local {
			local(req, replyExecArity)
		}
		return
	}
	if req.Cmd != 0 && commandTable[req.Cmd].flags&flagNoMulti != 0 && req.Flags&reqArity == 0 {
		// Redis refuses these while queuing, before anything else.
		tx.parseErr = true
		req.Keys = req.Keys[:0]
		local(req, replyNoMulti)
		return
	}
	if req.Flags&reqConn != 0 {
		if act == actSelect || act == actClientSetName || act == actClientReply ||
			(act == actHello && (setsName(req.Args) || switchesProto(req.Args, s))) {
			// They would change the session at EXEC. SELECT would also
			// change the transaction connection's database behind the
			// back of the core, which SELECTs for every request, and the
			// commands queued after it would run in the old one.
			tx.parseErr = true
			req.Flags &^= reqConn
			localError(req, "walnut does not run ", spacedName(req.Cmd),
				" inside a transaction: send it before MULTI")
			return
		}
		c.connCommand(req, s)
	}
	if req.Kind == protocols.Local {
		switch {
		case req.Close, len(req.Args) == 0:
		case req.Flags&reqArity == 0 && answeredInTx(act):
			c.queueLocal(req, tx)
		case len(req.Reply) > 0 && req.Reply[0] == '-':
			// Unknown, unsupported, or with the wrong arguments: Redis
			// flags the transaction for such a command.
			tx.parseErr = true
		}
		return
	}
	if relayed(req) {
		if req.Servers != 1 {
			// Any server answers it the same: the transaction's.
			c.queueKeyless(req, tx)
			return
		}
		act = actUnsupported // queued on the only server, as a command with keys
	}
	switch act {
	case actMulti:
		local(req, replyNested)
	case actWatch:
		local(req, replyWatchMulti)
	case actExec, actDiscard:
		c.endTransaction(req, tx, act, tx.parseErr)
	case actUnwatch, actWait, actPlaceholder:
		// COMMAND and LOLWUT route by "placeholder" outside a
		// transaction; inside one, any server answers them: the
		// transaction's.
		c.queueKeyless(req, tx)
	case actSubscribe, actUnsubscribe, actPSubscribe, actPUnsubscribe:
		tx.parseErr = true
		req.Keys = req.Keys[:0]
		localError(req, "walnut does not run ", policies[req.Cmd].upper, " inside a transaction")
	default:
		if req.Kind == protocols.Targeted && scriptHook(req.Cmd) && req.Flags&reqRewrite == 0 {
			// A script without keys that one server runs as well as
			// another (scripts.go): the transaction's.
			c.queueKeyless(req, tx)
			return
		}
		if len(req.Keys) == 0 {
			// Routed without keys (KEYS, DBSIZE, SCAN, INFO servers, an
			// allowed FLUSHDB...: to every server, or to one by a
			// cursor): one server's answer inside a transaction would be
			// a wrong one.
			tx.parseErr = true
			req.Conn = protocols.Shared
			req.Flags &^= reqRewrite
			localError(req, "walnut does not run ", spacedName(req.Cmd),
				" inside a transaction: a transaction runs on the server of its keys, and it has none")
			return
		}
		// A command with keys: it must live where the transaction does.
		// Blocking commands do not block inside MULTI.
		req.Kind = protocols.Forward
		req.Conn, req.Block = protocols.Pinned, 0
		req.Flags |= reqQueued
		tx.pinned = true
		tx.queued++
	}
}

// answeredInTx reports whether walnut answers act itself inside a
// transaction too, queuing it as Redis does: PING, ECHO, COMMAND, AUTH,
// HELLO without SETNAME, CLIENT GETNAME, ID and INFO, INFO without
// "servers". Their answers do not depend on when they run within the
// transaction (what would change them is refused inside MULTI).
func answeredInTx(act action) bool {
	switch act {
	case actPing, actEcho, actCommand, actCommandCount, actCommandInfo, actCommandDocs, actCommandList,
		actCommandGetKeys, actAuth, actHello, actClientGetName, actClientID, actClientInfo, actInfo:
		return true
	}
	return false
}

// spacedName is the command's name for messages, a subcommand after a
// space as clients write it ("SCRIPT LOAD").
func spacedName(cmd uint16) string {
	return strings.ReplaceAll(policies[cmd].upper, "|", " ")
}

// switchesProto reports whether HELLO's arguments change the client's
// protocol version: inside a transaction, the replies after it would
// change form at EXEC.
func switchesProto(args [][]byte, s *session) bool {
	if len(args) < 2 {
		return false
	}
	v, ok := parseInt(args[1])
	return ok && (v == 2 || v == 3) && (v == 3) != s.resp3
}

// setsName reports whether HELLO's arguments name the client.
func setsName(args [][]byte) bool {
	for _, a := range args[1:] {
		if equalFold(a, "SETNAME") {
			return true
		}
	}
	return false
}

// queueLocal queues a command walnut answers itself (answeredInTx): the
// client is told +QUEUED, and the answer is kept for EXEC's reply, at
// its place among the server's, as one Redis answers it. It needs no
// server, so a transaction of such commands alone needs none either.
func (c *Codec) queueLocal(req *protocols.Request, tx *txState) {
	tx.locals = appendCount(tx.locals, ':', tx.queued)
	tx.locals = append(tx.locals, req.Reply...)
	tx.queued++
	local(req, "+QUEUED\r\n")
}

// appendLocals appends EXEC's reply when no server ran the transaction:
// walnut's own answers, in order.
func appendLocals(dst, locals []byte) []byte {
	n := 0
	for l := locals; len(l) > 0; n++ {
		l = l[skipLocal(l):]
	}
	dst = appendCount(dst, '*', n)
	for len(locals) > 0 {
		at, _ := replyLen(locals, math.MaxInt)
		m := skipLocal(locals)
		dst = append(dst, locals[at:m]...)
		locals = locals[m:]
	}
	return dst
}

// skipLocal returns the length of the first of locals: its position
// and its answer.
func skipLocal(locals []byte) int {
	at, _ := replyLen(locals, math.MaxInt)
	n, _ := replyLen(locals[at:], math.MaxInt)
	if at == 0 || n == 0 {
		return len(locals) // not written by queueLocal: cannot happen
	}
	return at + n
}

// spliceLocals is EXEC's reply from the server's, resp, with walnut's
// own answers (locals) put in at their places. Anything but an array
// (nil: a watched key changed; an error) is the reply as it came.
func (c *Codec) spliceLocals(dst, resp, locals []byte) []byte {
	n, pos, st := arrayHeader(resp)
	if st != hdrOK || n < 0 {
		return append(dst, resp...)
	}
	k := 0
	for l := locals; len(l) > 0; k++ {
		l = l[skipLocal(l):]
	}
	dst = appendCount(dst, '*', int(n)+k)
	body := resp[pos:]
	for i := int64(0); len(locals) > 0 || len(body) > 0; i++ {
		if len(locals) > 0 {
			m, _ := replyLen(locals, math.MaxInt)
			if at, _ := intReply(locals[:m]); at == i || len(body) == 0 {
				e := skipLocal(locals)
				dst = append(dst, locals[m:e]...)
				locals = locals[e:]
				continue
			}
		}
		m, err := replyLen(body, c.maxReplyBulk)
		if m == 0 || err != nil {
			m = len(body) // framed by ParseResponse already: cannot happen
		}
		dst = append(dst, body[:m]...)
		body = body[m:]
	}
	return dst
}

// endTransaction makes req the end of the transaction: EXEC (which
// aborts if abort is set) or DISCARD, on the transaction's connection
// if it has one, else answered here.
func (c *Codec) endTransaction(req *protocols.Request, tx *txState, act action, abort bool) {
	tx.multi = false
	req.Conn, req.Release = protocols.Pinned, true
	switch {
	case tx.pinned:
		req.Kind = protocols.Forward
		req.Keys = req.Keys[:0]
		if act == actExec {
			req.Flags |= reqExec
			// walnut's own answers, for replyDedicated to put in.
			req.Reply = append(req.Reply[:0], tx.locals...)
		} else {
			req.Flags |= reqDiscard
		}
		if abort {
			req.Flags |= reqAbort
		}
	case act == actDiscard:
		local(req, "+OK\r\n")
	case abort:
		local(req, replyExecAbort)
	default:
		req.Kind = protocols.Local
		req.Reply = appendLocals(req.Reply[:0], tx.locals)
	}
	tx.pinned, tx.parseErr = false, false
	tx.queued, tx.locals = 0, tx.locals[:0]
	if cap(tx.locals) > maxKeptLocals {
		tx.locals = nil
	}
}

// maxKeptLocals bounds the buffer of walnut's answers a session keeps
// from one transaction to the next (COMMAND's answer is large).
const maxKeptLocals = 16 << 10

// reset answers RESET as Redis does, with the client's leases: its
// transaction discarded and unwatched, its subscriptions left, its
// database, protocol (RESP2), name and (with a password) authentication
// those of a new client. A transaction that has a connection gets
// DISCARD or UNWATCH there (appendDedicated), so that the connection
// goes back clean to the idle set; the subscription connections are
// closed (ReleaseAll).
func (c *Codec) reset(req *protocols.Request, s *session) {
	if sub := s.sub; sub != nil && sub.total() > 0 {
		*sub = subState{}
		req.ReleaseAll = true
	}
	if tx := s.tx; tx != nil && (tx.multi || tx.pinned) {
		req.Conn, req.Release, req.ReleaseAll = protocols.Pinned, true, true
		if tx.pinned {
			req.Kind = protocols.Forward
			req.Keys = req.Keys[:0]
			req.Flags |= reqDiscard
		}
		tx.multi, tx.pinned, tx.parseErr = false, false, false
	}
	s.db = c.db
	s.name = s.name[:0]
	s.resp3 = false
	if c.clientPassword != "" {
		s.authed = false
	}
	if req.Kind != protocols.Forward {
		local(req, "+RESET\r\n")
	}
}

// queueKeyless queues a command without keys (PING, WAIT, UNWATCH,
// COMMAND, LOLWUT) on
// the transaction's connection, which exists only once a key chose it.
func (c *Codec) queueKeyless(req *protocols.Request, tx *txState) {
	if !tx.pinned {
		tx.parseErr = true
		localError(req, "walnut cannot queue ", spacedName(req.Cmd),
			" before a command with a key: the transaction's server is not chosen yet")
		return
	}
	req.Kind = protocols.Forward
	req.Keys = req.Keys[:0]
	req.Conn = protocols.Pinned
	req.Flags |= reqQueued
	tx.queued++
}

// blocking sends a blocking command on a connection of its own, allowed
// to wait its own timeout at the server. XREAD and XREADGROUP block only
// with BLOCK. A timeout that does not parse leaves the pool's: the
// server refuses it at once.
func blocking(req *protocols.Request, act action) {
	args := req.Args
	var d time.Duration
	ok := false
	if act == actXRead {
		i := 1
		if equalFold(args[0], "XREADGROUP") {
			i = 4 // after GROUP group consumer
		}
		found := false
		for ; i+1 < len(args); i++ {
			a := args[i]
			if equalFold(a, "STREAMS") {
				break
			}
			if equalFold(a, "BLOCK") {
				found = true
				if ms, isInt := parseInt(args[i+1]); isInt && ms >= 0 {
					d, ok = time.Duration(min(ms, math.MaxInt64/int64(time.Millisecond)))*time.Millisecond, true
				}
				i++
			} else if equalFold(a, "COUNT") {
				i++
			}
		}
		if !found {
			return // not blocking: the shared connection
		}
	} else {
		at := len(args) - 1
		if policies[req.Cmd].timeoutFirst {
			at = 1
		}
		d, ok = seconds(args[at])
	}
	req.Conn = protocols.Once
	switch {
	case !ok:
	case d == 0:
		req.Block = -1
	default:
		req.Block = d
	}
}

// seconds parses a blocking command's timeout as Redis does: seconds,
// with decimals, not negative.
func seconds(b []byte) (time.Duration, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0, false
	}
	if f*float64(time.Second) >= math.MaxInt64 {
		return -1, true // longer than walnut will run: for ever
	}
	d := time.Duration(f * float64(time.Second))
	if d == 0 && f > 0 {
		d = 1
	}
	return d, true
}

// appendDedicated is AppendRequest for Pinned and Subscribed requests.
func (c *Codec) appendDedicated(dst []byte, req *protocols.Request, keys []int32) []byte {
	if req.Conn == protocols.Subscribed {
		// PING ends the servers' answer to it, however many confirmations
		// it has and whatever messages come in between.
		return append(c.appendCommand(dst, req, keys), pingProbe...)
	}
	s, _ := req.Session.(*session)
	if s == nil || s.tx == nil {
		return c.appendCommand(dst, req, keys)
	}
	tx := s.tx
	switch {
	case req.Flags&(reqQueued|reqWatch) != 0:
		if len(tx.pinKey) == 0 && len(req.Keys) > 0 {
			tx.pinKey = append(tx.pinKey[:0], req.Keys[0]...)
		}
		if req.Flags&reqQueued != 0 && !tx.multiSent {
			dst = append(dst, multiReq...)
			req.Flags |= reqPrefixed
			tx.multiSent = true
		}
		return c.appendCommand(dst, req, nil)
	case req.Flags&reqExec != 0:
		multiSent := tx.multiSent
		abort := tx.dispErr || req.Flags&reqAbort != 0
		tx.endDispatch()
		switch {
		case abort && multiSent:
			req.Flags |= reqAborted
			return append(dst, discardReq...)
		case abort:
			req.Flags |= reqAborted
			return append(dst, unwatchReq...)
		case !multiSent:
			// WATCH, MULTI, EXEC: MULTI goes out now.
			dst = append(dst, multiReq...)
			req.Flags |= reqPrefixed
		}
		return c.appendCommand(dst, req, nil)
	case req.Flags&reqDiscard != 0:
		multiSent := tx.multiSent
		tx.endDispatch()
		if multiSent {
			return append(dst, discardReq...) // the client's DISCARD, or RESET's
		}
		return append(dst, unwatchReq...) // DISCARD also forgets WATCH
	case req.Flags&reqUnwatch != 0:
		tx.endDispatch()
	}
	return c.appendCommand(dst, req, nil)
}

// dedicatedLen is ParseResponse for Pinned and Subscribed requests.
func (c *Codec) dedicatedLen(buf []byte, req *protocols.Request) (int, error) {
	if req.Conn == protocols.Subscribed {
		return c.subscribedLen(buf)
	}
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil || req.Flags&reqPrefixed == 0 {
		return n, err
	}
	if req.Conn == protocols.Once {
		c.learnID(req, buf[:n]) // CLIENT ID's answer (clientcmds.go)
	}
	m, err := replyLen(buf[n:], c.maxReplyBulk)
	if m == 0 || err != nil {
		return 0, err
	}
	return n + m, nil
}

// replyDedicated is AppendReply for requests on dedicated connections.
func (c *Codec) replyDedicated(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if req.Conn == protocols.Once && req.Flags&reqPrefixed != 0 {
		c.answered(req)
	}
	if policies[req.Cmd].act == actReset {
		// The transaction is gone whatever its server said: discarded,
		// or its connection closed.
		return append(dst, "+RESET\r\n"...)
	}
	if req.Flags&reqRefusal != 0 {
		return append(dst, req.Reply...)
	}
	if req.Conn == protocols.Subscribed {
		return c.replySubscribed(dst, req, parts)
	}
	if len(parts) == 0 {
		return append(dst, replyNoParts...)
	}
	p := &parts[0]
	if p.Err != nil {
		return appendErrText(append(dst, "-ERR "...), p.Err.Error())
	}
	resp := p.Resp
	if req.Flags&reqPrefixed != 0 {
		// MULTI's +OK: the client had its own already.
		if n, err := replyLen(resp, c.maxReplyBulk); err == nil && n > 0 {
			resp = resp[n:]
		}
	}
	if req.Flags&reqAborted != 0 && len(resp) > 0 && resp[0] != '-' {
		if req.Flags&reqExecArity != 0 {
			return append(dst, replyExecArity...)
		}
		return append(dst, replyExecAbort...)
	}
	if req.Flags&reqExec != 0 && len(req.Reply) > 0 {
		return c.spliceLocals(dst, resp, req.Reply)
	}
	return append(dst, resp...)
}

// Refused implements protocols.Leaser: a refused queued command makes
// EXEC abort, and the client is told why in its own terms.
func (c *Codec) Refused(req *protocols.Request, err error) {
	s, _ := req.Session.(*session)
	r := req.Reply[:0]
	var ee *protocols.ElsewhereError
	if errors.As(err, &ee) {
		r = elsewhere(r, req, s, ee)
	} else {
		r = appendErrText(append(r, "-ERR "...), err.Error())
	}
	if req.Conn == protocols.Pinned && s != nil && s.tx != nil {
		tx := s.tx
		switch {
		case req.Flags&reqQueued != 0:
			tx.dispErr = true
		case req.Flags&reqExec != 0:
			tx.endDispatch()
			r = append(r[:0], replyExecAbort...)
		case req.Flags&(reqDiscard|reqUnwatch) != 0:
			// Nothing was held: nothing to forget.
			tx.endDispatch()
			r = append(r[:0], "+OK\r\n"...)
		}
	}
	req.Reply = r
	req.Flags |= reqRefusal
}

// elsewhere says which key is not where the others are.
func elsewhere(dst []byte, req *protocols.Request, s *session, ee *protocols.ElsewhereError) []byte {
	what := "keys in a transaction must live on one server"
	if req.Conn == protocols.Once {
		what = "keys of a blocking command must live on one server"
	}
	if ee.Key < 0 || ee.Key >= len(req.Keys) {
		return appendErrText(append(dst, "-ERR "...), what)
	}
	var other []byte
	switch {
	case !ee.Held:
		other = req.Keys[0]
	case s != nil && s.tx != nil && len(s.tx.pinKey) > 0:
		other = s.tx.pinKey
	}
	dst = append(dst, "-ERR "...)
	dst = append(dst, what...)
	dst = append(dst, ": \""...)
	dst = appendSanitized(dst, req.Keys[ee.Key], 128)
	if other == nil {
		return append(dst, "\" is not on the transaction's server (use a hash tag)\r\n"...)
	}
	dst = append(dst, "\" is not with \""...)
	dst = appendSanitized(dst, other, 128)
	return append(dst, "\" (use a hash tag)\r\n"...)
}

// isPong reports whether v is the answer to the PING that ends a
// subscription request: in subscribed mode or out of it.
func isPong(v []byte) bool {
	return bytes.HasPrefix(v, pongArray) || string(v) == "+PONG\r\n"
}

var pongArray = []byte("*2\r\n$4\r\npong\r\n")
