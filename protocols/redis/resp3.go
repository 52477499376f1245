package redis

import "github.com/walnutproxy/walnut/protocols"

// RESP3. A client that says HELLO 3 gets RESP3 from then on, until HELLO
// 2 or RESET, as from Redis: its session says so (session.resp3), its
// requests go on server connections switched to RESP3 too (the
// connection state, session.go), so that what servers answer is relayed
// as it came, maps, sets, doubles, booleans, big numbers, verbatim
// strings, nulls, attributes and pushes included, and the replies walnut
// builds or merges take RESP3's forms where Redis' do: HELLO's map,
// nulls, INFO's and CLIENT INFO's verbatim strings, COMMAND's sets and
// maps, pub/sub's pushes. A RESP2 client's requests go on connections in
// RESP2, which never see a HELLO unless a RESP3 client's went there
// before, and get RESP2 replies.

// isResp3 reports whether req came from a client speaking RESP3.
func isResp3(req *protocols.Request) bool { return req.Flags&reqResp3 != 0 }

// appendNull appends the null reply: "_" in RESP3, the null bulk
// string in RESP2.
func appendNull(dst []byte, r3 bool) []byte {
	if r3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

// appendMapLen starts a map of n pairs: a flat array of 2n in RESP2.
func appendMapLen(dst []byte, n int, r3 bool) []byte {
	if r3 {
		return appendCount(dst, '%', n)
	}
	return appendCount(dst, '*', 2*n)
}

// appendSetLen starts a set of n elements: an array in RESP2.
func appendSetLen(dst []byte, n int, r3 bool) []byte {
	if r3 {
		return appendCount(dst, '~', n)
	}
	return appendCount(dst, '*', n)
}

// appendPushLen starts a push of n elements (pub/sub): an array in
// RESP2.
func appendPushLen(dst []byte, n int, r3 bool) []byte {
	if r3 {
		return appendCount(dst, '>', n)
	}
	return appendCount(dst, '*', n)
}

// appendText appends a text walnut composes or merges (INFO, CLIENT
// INFO) as Redis sends such texts: a bulk string in RESP2, a verbatim
// string of format "txt" in RESP3.
func appendText(dst, text []byte, r3 bool) []byte {
	if !r3 {
		return appendBulk(dst, text)
	}
	dst = appendCount(dst, '=', len(text)+4)
	dst = append(dst, "txt:"...)
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// textOf returns the text of a bulk string reply, or of a verbatim
// string one without its format, as a server sends INFO; false if r is
// neither.
func textOf(r []byte) ([]byte, bool) {
	if len(r) == 0 || (r[0] != '$' && r[0] != '=') {
		return nil, false
	}
	l, next, st := parseHeader(r, 1)
	if st != hdrOK || l < 0 || next+int(l)+2 != len(r) {
		return nil, false
	}
	text := r[next : next+int(l)]
	if r[0] == '=' {
		if len(text) < 4 || text[3] != ':' {
			return nil, false
		}
		text = text[4:]
	}
	return text, true
}

// isNull reports whether r is a null reply, in either protocol.
func isNull(r []byte) bool {
	return string(r) == "$-1\r\n" || string(r) == "_\r\n" || string(r) == "*-1\r\n"
}
