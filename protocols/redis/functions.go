package redis

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/walnutproxy/walnut/protocols"
)

// Redis 7 functions, and the scripts kept on every server. A pool's
// servers must hold the same libraries and scripts, since FCALL and
// EVALSHA go to whichever server owns their keys. So:
//
//	FUNCTION LOAD     to every server (Broadcast), like SCRIPT LOAD. The
//	FUNCTION DELETE   servers must agree: when they all answer the same,
//	FUNCTION FLUSH    the client gets that answer, as from one Redis
//	FUNCTION RESTORE  (errors too); when they do not (one loads, another
//	SCRIPT LOAD       has a library of that name already), the answer is
//	SCRIPT FLUSH      an error that says which server said what. What
//	                  they agree on walnut remembers (registry.go), to
//	                  load again on a server that lost it.
//	FUNCTION LIST     to every server; the first one's answer (in server
//	                  order) when they all list the same libraries, with
//	                  the same functions and code; else an error that
//	                  names a library on which they differ. Libraries
//	                  are compared, not bytes: a server lists them, and
//	                  their functions, in the order of its hash tables.
//	FUNCTION DUMP     the first server's: they all hold the same
//	                  libraries, and a dump cannot be merged (nor, being
//	                  a serialization of hash tables, compared).
//	FUNCTION STATS    to every server, merged: running_script from the
//	                  server that runs one (the first, if several do),
//	                  engines from the first server (the same libraries
//	                  everywhere count the same).
//	FUNCTION KILL     to every server; the busy one's answer wins: +OK
//	SCRIPT KILL       if a server killed its script, NOTBUSY if none
//	                  runs one, a server's other refusal (UNKILLABLE)
//	                  naming it.
//	FUNCTION HELP     the first server's.
//	SCRIPT HELP
//
// KILL and STATS must reach a server while it runs a script, and the
// pool's shared connection to it may be the one whose pipeline waits
// behind that script (Redis stops reading a client while it runs its
// script): they go on dedicated connections of their own
// (protocols.Once), as Redis allows them while busy.
//
// walnut learns a library's functions and their flags, which route FCALL
// without keys (scripts.go), from the servers: FUNCTION LOAD goes out
// followed by FUNCTION LIST LIBRARYNAME of its library, and FUNCTION
// RESTORE by FUNCTION LIST WITHCODE; the client sees the first reply
// only.

// routeFunction routes the commands above, route having checked their
// arity.
func routeFunction(req *protocols.Request, act action) {
	req.Kind = protocols.Broadcast
	switch act {
	case actFunctionDump, actFunctionHelp:
		req.Kind = protocols.Targeted
		req.Target = 0
	case actFunctionStats, actScriptKill:
		req.Conn = protocols.Once
		// Alike in every database, and a busy server refuses SELECT.
		req.ConnState = protocols.AnyState
	case actFunctionLoad:
		if _, ok := libraryName(req.Args); ok {
			req.Flags |= reqRewrite
		}
	case actFunctionRestore:
		req.Flags |= reqRewrite
	}
}

// functionCode returns the code of FUNCTION LOAD [REPLACE] code, as
// Redis' functionLoadCommand reads its arguments.
func functionCode(args [][]byte) ([]byte, bool) {
	last := len(args) - 1
	for _, a := range args[2:last] {
		if !equalFold(a, "REPLACE") {
			return nil, false
		}
	}
	return args[last], last >= 2
}

// libraryName returns the name a FUNCTION LOAD's code gives its library
// ("#!lua name=mylib"), read as Redis' functionExtractLibMetaData reads
// it; ok is false for what it would reject or walnut does not read.
func libraryName(args [][]byte) ([]byte, bool) {
	code, ok := functionCode(args)
	if !ok || !bytes.HasPrefix(code, []byte("#!")) {
		return nil, false
	}
	nl := bytes.IndexByte(code, '\n')
	if nl < 0 {
		return nil, false
	}
	_, line := nextWord(code[:nl]) // the engine
	var name []byte
	for {
		var w []byte
		if w, line = nextWord(line); w == nil {
			break
		}
		if bytes.ContainsAny(w, "\"'") || len(w) < 5 || !equalFold(w[:5], "NAME=") || name != nil {
			return nil, false
		}
		name = w[5:]
	}
	return name, len(name) > 0
}

// twoReplies reports whether req's servers send two replies, the second
// to the FUNCTION LIST walnut added.
func twoReplies(req *protocols.Request) bool {
	act := policies[req.Cmd].act
	return req.Flags&reqRewrite != 0 && (act == actFunctionLoad || act == actFunctionRestore)
}

// pairLen frames twoReplies' pair.
func (c *Codec) pairLen(buf []byte) (int, error) {
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil {
		return n, err
	}
	m, err := replyLen(buf[n:], c.maxReplyBulk)
	if m == 0 || err != nil {
		return 0, err
	}
	return n + m, nil
}

var (
	listLibrary = []byte("*4\r\n$8\r\nFUNCTION\r\n$4\r\nLIST\r\n$11\r\nLIBRARYNAME\r\n")
)

// appendWithList appends FUNCTION LOAD or RESTORE as the client sent it,
// followed by the FUNCTION LIST that tells walnut what it did.
func appendWithList(dst []byte, req *protocols.Request) []byte {
	if req.Flags&reqInline != 0 {
		dst = appendArgs(dst, req.Args...)
	} else {
		dst = append(dst, req.Raw...)
	}
	if policies[req.Cmd].act == actFunctionRestore {
		return append(dst, listWithCode...)
	}
	name, _ := libraryName(req.Args)
	return appendBulk(append(dst, listLibrary...), name)
}

// ownsFanOut reports whether mergeFunctions answers act's Broadcast or
// Targeted requests.
func ownsFanOut(act action) bool {
	return act == actForward || act == actScriptLoad || act == actScriptFlush ||
		(act >= actFunctionLoad && act <= actScriptKill)
}

// mergeFunctions answers the commands above, and the scripts without
// keys (scripts.go).
func (c *Codec) mergeFunctions(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	act := policies[req.Cmd].act
	switch {
	case act == actForward:
		return replyKeyless(dst, req, parts)
	case len(parts) == 0:
		return append(dst, replyNoServer...)
	}
	switch act {
	case actFunctionDump, actFunctionHelp:
		if parts[0].Err != nil {
			return appendErrText(append(dst, "-ERR "...), parts[0].Err.Error())
		}
		return append(dst, parts[0].Resp...)
	case actScriptKill:
		return mergeKill(dst, parts)
	case actFunctionList, actFunctionStats:
		for i := range parts {
			if parts[i].Err != nil {
				return appendErrText(append(dst, "-ERR "...), parts[i].Err.Error())
			}
		}
		if r := parts[0].Resp; len(r) > 0 && r[0] == '-' && sameReplies(parts) {
			return append(dst, r...) // refused alike everywhere, as one Redis refuses it
		}
		for i := range parts {
			if r := parts[i].Resp; len(r) > 0 && r[0] == '-' {
				return appendServerError(dst, r, parts[i].Name)
			}
		}
		if act == actFunctionList {
			return mergeList(dst, parts)
		}
		return c.mergeStats(dst, parts, isResp3(req))
	}
	return c.mergeAgreed(dst, req, parts)
}

// sameReplies reports whether every part got the same reply.
func sameReplies(parts []protocols.Part) bool {
	for i := 1; i < len(parts); i++ {
		if !bytes.Equal(parts[i].Resp, parts[0].Resp) {
			return false
		}
	}
	return true
}

// firstReply is a part's reply, without the FUNCTION LIST's that
// twoReplies adds.
func (c *Codec) firstReply(req *protocols.Request, p *protocols.Part) []byte {
	if !twoReplies(req) {
		return p.Resp
	}
	n, _ := replyLen(p.Resp, c.maxReplyBulk)
	return p.Resp[:n]
}

// mergeAgreed answers what changes the servers' libraries or scripts:
// the servers' common answer, or an error when they differ. What every
// server that answered agreed to, walnut remembers, even when another
// failed: that one gets it when it is back (a failure closes its
// connection, and a new one is primed).
func (c *Codec) mergeAgreed(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	var agreed []byte
	first, failed := -1, -1
	for i := range parts {
		p := &parts[i]
		if p.Err != nil {
			if failed < 0 {
				failed = i
			}
			continue
		}
		r := c.firstReply(req, p)
		if first < 0 {
			agreed, first = r, i
		} else if !bytes.Equal(r, agreed) {
			return c.appendDisagreement(dst, req, parts)
		}
	}
	if first >= 0 && len(agreed) > 0 && agreed[0] != '-' {
		c.remember(req, agreed, parts[first].Resp[len(agreed):])
	}
	if failed >= 0 {
		return appendErrText(append(dst, "-ERR "...), parts[failed].Err.Error())
	}
	return append(dst, agreed...)
}

// remember records in the registry what the servers agreed to: reply is
// their answer, list the FUNCTION LIST that followed it.
func (c *Codec) remember(req *protocols.Request, reply, list []byte) {
	args := req.Args
	ok := string(reply) == "+OK\r\n"
	switch policies[req.Cmd].act {
	case actFunctionLoad:
		v, _ := parseValue(reply)
		code, okCode := functionCode(args)
		if v.t != '$' || v.null || !okCode {
			return
		}
		c.fn.loaded(v.s, code, list)
	case actFunctionDelete:
		if ok {
			c.fn.deleted(args[2])
		}
	case actFunctionFlush:
		if ok {
			c.fn.flushed()
		}
	case actFunctionRestore:
		if l, okList := parseValue(list); ok && okList && l.t == '*' {
			c.fn.restored(&l)
		}
	case actScriptLoad:
		if reply[0] == '$' {
			c.fn.scriptLoaded(args[2])
		}
	case actScriptFlush:
		if ok {
			c.fn.scriptsFlushed()
		}
	}
}

// appendDisagreement says which servers answered what:
//
//	-ERR FUNCTION LOAD: the servers disagree: 10.0.0.1:6379, 10.0.0.2:6379 answered "mylib"; 10.0.0.3:6379 answered "ERR Library 'mylib' already exists"
func (c *Codec) appendDisagreement(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	dst = append(dst, "-ERR "...)
	dst = append(dst, spacedName(req.Cmd)...)
	dst = append(dst, ": the servers disagree: "...)
	done := make([]bool, len(parts))
	for i := range parts {
		if done[i] {
			continue
		}
		if i > 0 {
			dst = append(dst, "; "...)
		}
		var r []byte
		if parts[i].Err == nil {
			r = c.firstReply(req, &parts[i])
		}
		for j := i; j < len(parts); j++ {
			if done[j] || (parts[j].Err == nil) != (parts[i].Err == nil) ||
				(r != nil && !bytes.Equal(c.firstReply(req, &parts[j]), r)) {
				continue
			}
			if j > i {
				dst = append(dst, ", "...)
			}
			dst = protocols.AppendOneLine(dst, parts[j].Name)
			done[j] = true
		}
		if parts[i].Err != nil {
			dst = append(dst, " failed ("...)
			dst = protocols.AppendOneLine(dst, parts[i].Err.Error())
			dst = append(dst, ')')
			continue
		}
		dst = append(dst, " answered "...)
		dst = appendQuotedReply(dst, r)
	}
	return append(dst, "\r\n"...)
}

// appendQuotedReply quotes a reply for a message: a bulk's or a line's
// text, at most 200 bytes of it.
func appendQuotedReply(dst, r []byte) []byte {
	text := r
	if v, ok := parseValue(r); ok && v.a == nil && !v.null {
		text = v.s
	}
	if len(text) > 200 {
		text = append(text[:200:200], "..."...)
	}
	return protocols.AppendOneLine(dst, strconv.Quote(string(text)))
}

var (
	replyOK      = []byte("+OK\r\n")
	replyNotBusy = []byte("-NOTBUSY")
)

// mergeKill answers SCRIPT KILL and FUNCTION KILL: the busy server's
// answer wins. A server that refuses to kill its script (UNKILLABLE, or
// a function that SCRIPT KILL cannot stop) is named, unless it is the
// pool's only one; one that failed matters only if no server was busy.
func mergeKill(dst []byte, parts []protocols.Part) []byte {
	killed, notBusy, failed := false, -1, -1
	for i := range parts {
		p := &parts[i]
		switch {
		case p.Err != nil:
			if failed < 0 {
				failed = i
			}
		case bytes.Equal(p.Resp, replyOK):
			killed = true
		case bytes.HasPrefix(p.Resp, replyNotBusy):
			if notBusy < 0 {
				notBusy = i
			}
		case len(parts) == 1:
			return append(dst, p.Resp...)
		case len(p.Resp) > 0 && p.Resp[0] == '-':
			return appendServerError(dst, p.Resp, p.Name)
		default:
			return appendUnexpected(dst, p)
		}
	}
	switch {
	case killed:
		return append(dst, replyOK...)
	case failed >= 0:
		return appendErrText(append(dst, "-ERR "...), parts[failed].Err.Error())
	}
	return append(dst, parts[notBusy].Resp...)
}

// mergeStats answers FUNCTION STATS: running_script from the server
// that runs one, engines from the first, in the client's protocol. The
// servers answer on dedicated connections in whatever state they were
// left in (protocols.AnyState), RESP2 or RESP3, so the reply is rebuilt
// rather than copied: maps of maps in RESP3, flat arrays in RESP2, as
// Redis sends it to each.
func (c *Codec) mergeStats(dst []byte, parts []protocols.Part, r3 bool) []byte {
	var running, engines []byte
	from := 0 // the part running comes from
	for i := range parts {
		r, e, ok := c.statsFields(parts[i].Resp)
		if !ok {
			return appendUnexpected(dst, &parts[i])
		}
		if i == 0 {
			running, engines = r, e
		}
		if isNull(running) && !isNull(r) {
			running, from = r, i
		}
	}
	n0 := len(dst)
	dst = appendMapLen(dst, 2, r3)
	dst = append(dst, "$14\r\nrunning_script\r\n"...)
	dst, _, ok := c.appendAs(dst, running, r3, statsRunning, 0)
	if !ok {
		return appendUnexpected(dst[:n0], &parts[from])
	}
	dst = append(dst, "$7\r\nengines\r\n"...)
	if dst, _, ok = c.appendAs(dst, engines, r3, statsEngines, 0); !ok {
		return appendUnexpected(dst[:n0], &parts[0])
	}
	return dst
}

// Where FUNCTION STATS' values are maps, for appendAs: running_script
// is a map (name, command, duration_ms), engines a map of maps
// (libraries_count, functions_count by engine).
const (
	statsRunning = 1
	statsEngines = 1 | 2
)

// statsFields finds the values of running_script and engines in a
// FUNCTION STATS reply, a map in RESP3, a flat array in RESP2.
func (c *Codec) statsFields(r []byte) (running, engines []byte, ok bool) {
	if len(r) == 0 || (r[0] != '*' && r[0] != '%') {
		return nil, nil, false
	}
	n, pos, st := parseHeader(r, 1)
	if st != hdrOK || (r[0] == '*' && n != 4) || (r[0] == '%' && n != 2) {
		return nil, nil, false
	}
	for range 2 {
		k, err := replyLen(r[pos:], c.maxReplyBulk)
		if k == 0 || err != nil {
			return nil, nil, false
		}
		key := r[pos : pos+k]
		pos += k
		v, err := replyLen(r[pos:], c.maxReplyBulk)
		if v == 0 || err != nil {
			return nil, nil, false
		}
		switch string(key) {
		case "$14\r\nrunning_script\r\n":
			running = r[pos : pos+v]
		case "$7\r\nengines\r\n":
			engines = r[pos : pos+v]
		}
		pos += v
	}
	return running, engines, running != nil && engines != nil && pos == len(r)
}

// appendAs appends the RESP value at the start of r in the client's
// protocol and returns how many bytes of r it took. maps says at which
// depths (bit 0: r itself, bit 1: its elements, ...) an aggregate is a
// map, which RESP2 sends as a flat array of keys and values and RESP3
// as a map; nulls take the protocol's form, and other values go as
// they are. It allocates nothing.
func (c *Codec) appendAs(dst, r []byte, r3 bool, maps uint, depth int) ([]byte, int, bool) {
	if len(r) == 0 || depth > maxValueDepth {
		return dst, 0, false
	}
	t := r[0]
	if t != '*' && t != '%' && t != '~' {
		n, err := replyLen(r, c.maxReplyBulk)
		if n == 0 || err != nil {
			return dst, 0, false
		}
		if isNull(r[:n]) {
			return appendNull(dst, r3), n, true
		}
		return append(dst, r[:n]...), n, true
	}
	n, pos, st := parseHeader(r, 1)
	if st != hdrOK || n > int64(len(r)) {
		return dst, 0, false
	}
	if n < 0 {
		return appendNull(dst, r3), pos, true
	}
	elems := int(n)
	if t == '%' {
		elems *= 2
	}
	switch {
	case maps&1 != 0 || t == '%':
		if elems%2 != 0 {
			return dst, 0, false
		}
		dst = appendMapLen(dst, elems/2, r3)
	case t == '~':
		dst = appendSetLen(dst, elems, r3)
	default:
		dst = appendCount(dst, '*', elems)
	}
	for range elems {
		var m int
		var ok bool
		if dst, m, ok = c.appendAs(dst, r[pos:], r3, maps>>1, depth+1); !ok {
			return dst, 0, false
		}
		pos += m
	}
	return dst, pos, true
}

// mergeList answers FUNCTION LIST: the first server's answer if every
// server lists the same libraries.
func mergeList(dst []byte, parts []protocols.Part) []byte {
	if sameReplies(parts) {
		return append(dst, parts[0].Resp...)
	}
	libs := make([]map[string]string, len(parts))
	for i := range parts {
		v, ok := parseValue(parts[i].Resp)
		if !ok || v.t != '*' {
			return appendUnexpected(dst, &parts[i])
		}
		if libs[i], ok = canonicalLibraries(&v); !ok {
			return appendUnexpected(dst, &parts[i])
		}
	}
	for i := 1; i < len(parts); i++ {
		if msg := librariesDiffer(libs[0], libs[i], parts[0].Name, parts[i].Name); msg != "" {
			dst = append(dst, "-ERR FUNCTION LIST: the servers disagree: "...)
			return appendErrText(dst, msg)
		}
	}
	return append(dst, parts[0].Resp...)
}

// canonicalLibraries reads a FUNCTION LIST reply as each library's
// description by name, in a form that does not depend on the order a
// server lists functions in.
func canonicalLibraries(v *value) (map[string]string, bool) {
	out := map[string]string{}
	for i := range v.a {
		lib := &v.a[i]
		name, ok := lib.field("library_name")
		if !ok || len(lib.a)%2 != 0 {
			return nil, false
		}
		var b strings.Builder
		for j := 0; j < len(lib.a); j += 2 {
			key := lib.a[j].str()
			b.WriteString(key)
			b.WriteByte(0)
			val := &lib.a[j+1]
			if key != "functions" {
				b.Write(val.raw)
				continue
			}
			fs := make([]string, len(val.a))
			for k := range val.a {
				fs[k] = string(val.a[k].raw)
			}
			slices.Sort(fs)
			for _, f := range fs {
				b.WriteString(f)
			}
		}
		out[name.str()] = b.String()
	}
	return out, true
}

// librariesDiffer says how server b's libraries differ from server a's,
// "" if they do not.
func librariesDiffer(a, b map[string]string, nameA, nameB string) string {
	names := make([]string, 0, len(a)+len(b))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		da, inA := a[n]
		db, inB := b[n]
		switch {
		case !inB:
			return "library " + strconv.Quote(n) + " is on " + nameA + " but not on " + nameB
		case !inA:
			return "library " + strconv.Quote(n) + " is on " + nameB + " but not on " + nameA
		case da != db:
			return "library " + strconv.Quote(n) + " differs between " + nameA + " and " + nameB
		}
	}
	return ""
}

// onceFanOut reports whether req went to every server on dedicated
// connections of its own (KILL, STATS), to be merged as a Broadcast is;
// a refused one has its answer in Reply.
func onceFanOut(req *protocols.Request) bool {
	return req.Conn == protocols.Once && req.Kind == protocols.Broadcast && req.Flags&reqRefusal == 0
}
