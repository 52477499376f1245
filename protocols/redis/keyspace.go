package redis

import (
	"bytes"
	"math/rand/v2"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// Whole-keyspace commands. A pool's keyspace is the union of its
// servers' (those in the routing table: an ejected server's keys are not
// served while it is out, so they are not listed either), so these go to
// every server (protocols.Broadcast) and their replies are merged:
//
//	KEYS          arrays concatenated, in server order
//	DBSIZE        integers summed
//	RANDOMKEY     a key from a server picked at random among those that
//	              have one; nil only if every server is empty
//	FLUSHDB       +OK once every server said +OK; refused unless the
//	FLUSHALL      pool sets allow_flush
//	SCRIPT LOAD   the SHA1, once every server loaded the script
//	SCRIPT EXISTS 1 where every server has the script
//	SCRIPT FLUSH  +OK once every server said +OK
//	LASTSAVE      the earliest: every server has saved since then
//	INFO servers  every server's INFO, one after another (local.go)
//
// SCAN walks the servers one after another in the pool's order
// (protocols.Targeted), with a cursor that holds the server's index in
// its top bits and that server's own cursor below; TIME asks the first
// server in the routing table.
//
// A server that fails, or answers an error, makes the reply an error
// that names it: a merged reply is complete or is not sent. A failure
// reads as every server failure does, nutcracker's words first
// ("Connection refused (pool P, server S)"); an error reply keeps the
// server's code and text, which clients act on (LOADING, BUSY, NOAUTH),
// the server named after them ("BUSY Redis is busy ... (server S)");
// what walnut cannot merge starts with nutcracker's "Invalid argument",
// as for split requests (merge.go).

// SCAN's composite cursor: server index << scanShift | server cursor.
// Redis' cursors are bucket indices of its hash tables, far below 2^47;
// 16 bits of server index keep the cursor under 2^63, which clients that
// parse it as a signed 64-bit number accept.
const (
	scanShift      = 47
	scanCursorMask = 1<<scanShift - 1
	maxScanServers = 1 << 16
)

var (
	replyInvalidCursor = "-ERR invalid cursor\r\n"
	replyScanDone      = "*2\r\n$1\r\n0\r\n*0\r\n"
	// nutcracker's answer when no server is there to ask.
	replyNoServer = "-ERR Connection refused (every server is ejected)\r\n"
)

// routeScan sends SCAN to the server its cursor names.
func routeScan(req *protocols.Request) {
	cur, ok := parseUint(req.Args[1])
	if !ok {
		local(req, replyInvalidCursor)
		return
	}
	req.Kind = protocols.Targeted
	req.Target = int(cur >> scanShift)
	req.Flags |= reqRewrite
}

// appendRewritten is AppendRequest for a request marked reqRewrite.
func (c *Codec) appendRewritten(dst []byte, req *protocols.Request) []byte {
	args := req.Args
	switch policies[req.Cmd].act {
	case actScan:
		cur, _ := parseUint(args[1])
		if int(cur>>scanShift) == req.Target {
			cur &= scanCursorMask
		} else {
			// The core moved on from an ejected server: this one is
			// walked from its start.
			cur = 0
		}
		var num [20]byte
		dst = appendCount(dst, '*', len(args))
		dst = appendBulk(dst, args[0])
		dst = appendBulk(dst, strconv.AppendUint(num[:0], cur, 10))
		for _, a := range args[2:] {
			dst = appendBulk(dst, a)
		}
		return dst
	case actForward:
		// A script without keys, sent as its _RO form (scripts.go).
		return appendReadOnly(dst, req)
	case actFunctionLoad, actFunctionRestore:
		return appendWithList(dst, req)
	case actInfo:
		if !infoServersMode(args) {
			return append(dst, infoServerReq...)
		}
		n := 0
		for _, a := range args {
			if !equalFold(a, "SERVERS") {
				n++
			}
		}
		dst = appendCount(dst, '*', n)
		for _, a := range args {
			if !equalFold(a, "SERVERS") {
				dst = appendBulk(dst, a)
			}
		}
		return dst
	case actClientUnblock:
		return appendArgs(dst, args...)
	}
	return append(dst, req.Raw...)
}

// appendServerError appends a server's error reply with the server named
// at its end, so that its code and text stay what clients look for.
func appendServerError(dst, resp []byte, name string) []byte {
	line := resp
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		line = line[:i]
	}
	dst = appendSanitized(dst, line, 512)
	dst = append(dst, " (server "...)
	dst = protocols.AppendOneLine(dst, name)
	return append(dst, ")\r\n"...)
}

// mergeFanOut is AppendReply for Broadcast and Targeted requests.
func (c *Codec) mergeFanOut(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	act := policies[req.Cmd].act
	if ownsFanOut(act) {
		return c.mergeFunctions(dst, req, parts)
	}
	if len(parts) == 0 {
		if act == actScan {
			// Every server from the cursor's on is out of the table.
			return append(dst, replyScanDone...)
		}
		return append(dst, replyNoServer...)
	}
	if r := parts[0].Resp; len(parts) > 1 && len(r) > 0 && r[0] == '-' && sameReplies(parts) {
		// Every server refused it alike (FLUSHDB x, PUBSUB CHANNELS a b):
		// an argument error, which the pool answers as one Redis does.
		return append(dst, r...)
	}
	for i := range parts {
		p := &parts[i]
		if p.Err != nil {
			return appendErrText(append(dst, "-ERR "...), p.Err.Error())
		}
		if len(p.Resp) > 0 && p.Resp[0] == '-' {
			return appendServerError(dst, p.Resp, p.Name)
		}
	}
	switch act {
	case actKeys:
		return mergeKeys(dst, parts)
	case actScan:
		return mergeScan(dst, req, &parts[0])
	case actDBSize:
		return mergeInts(dst, parts, false)
	case actLastSave:
		return mergeInts(dst, parts, true)
	case actRandomKey:
		return mergeRandomKey(dst, parts)
	case actFlush, actScriptFlush:
		for i := range parts {
			if string(parts[i].Resp) != "+OK\r\n" {
				return appendUnexpected(dst, &parts[i])
			}
		}
		return append(dst, "+OK\r\n"...)
	case actScriptLoad:
		for i := range parts {
			r := parts[i].Resp
			if len(r) == 0 || r[0] != '$' || !bytes.Equal(r, parts[0].Resp) {
				return appendUnexpected(dst, &parts[i])
			}
		}
		return append(dst, parts[0].Resp...)
	case actScriptExists:
		return mergeScriptExists(dst, parts)
	case actTime:
		return append(dst, parts[0].Resp...)
	case actInfo:
		if !infoServersMode(req.Args) {
			return c.mergeOwnInfo(dst, req, parts)
		}
		return mergeInfo(dst, parts, isResp3(req))
	case actPubSubChannels:
		return mergeChannels(dst, parts)
	case actPubSubNumSub:
		return mergeNumSub(dst, parts)
	case actPubSubNumPat:
		return mergeMaxInt(dst, parts)
	}
	return append(dst, replyUnexpected...)
}

// appendUnexpected says which server answered what its command never
// answers, after nutcracker's words for it (see replyUnexpected).
func appendUnexpected(dst []byte, p *protocols.Part) []byte {
	dst = append(dst, "-ERR Invalid argument (unexpected reply from server "...)
	dst = protocols.AppendOneLine(dst, p.Name)
	return append(dst, ")\r\n"...)
}

// mergeKeys concatenates arrays.
func mergeKeys(dst []byte, parts []protocols.Part) []byte {
	total := int64(0)
	for i := range parts {
		n, _, st := arrayHeader(parts[i].Resp)
		if st != hdrOK || n < 0 {
			return appendUnexpected(dst, &parts[i])
		}
		total += n
	}
	dst = appendCount(dst, '*', int(total))
	for i := range parts {
		_, pos, _ := arrayHeader(parts[i].Resp)
		dst = append(dst, parts[i].Resp[pos:]...)
	}
	return dst
}

// mergeInts sums integer replies, or takes the smallest.
func mergeInts(dst []byte, parts []protocols.Part, smallest bool) []byte {
	var acc int64
	for i := range parts {
		n, ok := intReply(parts[i].Resp)
		if !ok {
			return appendUnexpected(dst, &parts[i])
		}
		switch {
		case !smallest:
			acc += n
		case i == 0 || n < acc:
			acc = n
		}
	}
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, acc, 10)
	return append(dst, '\r', '\n')
}

// intReply reads ":n\r\n".
func intReply(r []byte) (int64, bool) {
	if len(r) < 4 || r[0] != ':' || r[len(r)-2] != '\r' || r[len(r)-1] != '\n' {
		return 0, false
	}
	return parseInt(r[1 : len(r)-2])
}

// mergeRandomKey picks one of the keys the servers offered, at random.
// Each server answered in the client's protocol: a nil is "_" in RESP3.
func mergeRandomKey(dst []byte, parts []protocols.Part) []byte {
	have := 0
	for i := range parts {
		r := parts[i].Resp
		if len(r) == 0 || (r[0] != '$' && r[0] != '_') {
			return appendUnexpected(dst, &parts[i])
		}
		if !isNull(r) {
			have++
		}
	}
	if have == 0 {
		return append(dst, parts[0].Resp...)
	}
	pick := rand.IntN(have)
	for i := range parts {
		if r := parts[i].Resp; !isNull(r) {
			if pick == 0 {
				return append(dst, r...)
			}
			pick--
		}
	}
	return dst
}

// mergeScriptExists answers 1 for a script only if every server has it.
func mergeScriptExists(dst []byte, parts []protocols.Part) []byte {
	n, _, st := arrayHeader(parts[0].Resp)
	if st != hdrOK || n < 0 {
		return appendUnexpected(dst, &parts[0])
	}
	pos := make([]int, len(parts))
	for i := range parts {
		m, p, st := arrayHeader(parts[i].Resp)
		if st != hdrOK || m != n {
			return appendUnexpected(dst, &parts[i])
		}
		pos[i] = p
	}
	start := len(dst)
	dst = appendCount(dst, '*', int(n))
	for k := int64(0); k < n; k++ {
		all := true
		for i := range parts {
			r := parts[i].Resp[pos[i]:]
			if len(r) < 4 || r[0] != ':' || (r[1] != '0' && r[1] != '1') || r[2] != '\r' || r[3] != '\n' {
				return appendUnexpected(dst[:start], &parts[i])
			}
			all = all && r[1] == '1'
			pos[i] += 4
		}
		if all {
			dst = append(dst, ":1\r\n"...)
		} else {
			dst = append(dst, ":0\r\n"...)
		}
	}
	return dst
}

// mergeScan turns a server's SCAN reply into the pool's: the cursor
// goes on with the same server, or moves to the next one when this one
// is done, or is 0 when the last server is.
func mergeScan(dst []byte, req *protocols.Request, p *protocols.Part) []byte {
	r := p.Resp
	n, pos, st := arrayHeader(r)
	if st != hdrOK || n != 2 || pos >= len(r) || r[pos] != '$' {
		return appendUnexpected(dst, p)
	}
	l, next, st := parseHeader(r, pos+1)
	if st != hdrOK || l < 1 || next+int(l)+2 > len(r) {
		return appendUnexpected(dst, p)
	}
	cur, ok := parseUint(r[next : next+int(l)])
	if !ok {
		return appendUnexpected(dst, p)
	}
	rest := r[next+int(l)+2:]
	if cur > scanCursorMask || p.Server >= maxScanServers-1 {
		dst = append(dst, "-ERR Invalid argument (server "...)
		dst = protocols.AppendOneLine(dst, p.Name)
		return append(dst, " answered a SCAN cursor too large to combine with its index)\r\n"...)
	}
	switch {
	case cur != 0:
		cur |= uint64(p.Server) << scanShift
	case p.Server+1 < req.Servers:
		cur = uint64(p.Server+1) << scanShift
	}
	var num [20]byte
	dst = append(dst, "*2\r\n"...)
	dst = appendBulk(dst, strconv.AppendUint(num[:0], cur, 10))
	return append(dst, rest...)
}

// mergeInfo puts the servers' INFO texts one after another, each under a
// line that names its server; servers send them as bulk strings, or as
// verbatim strings in RESP3, and so does walnut.
func mergeInfo(dst []byte, parts []protocols.Part, r3 bool) []byte {
	var text []byte
	for i := range parts {
		t, ok := textOf(parts[i].Resp)
		if !ok {
			return appendUnexpected(dst, &parts[i])
		}
		if i > 0 {
			text = append(text, "\r\n"...)
		}
		text = append(text, "# walnut server "...)
		text = protocols.AppendOneLine(text, parts[i].Name)
		text = append(text, "\r\n"...)
		text = append(text, t...)
	}
	return appendInfo(dst, text, r3)
}
