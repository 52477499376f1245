package memcached

import (
	"bytes"
	"encoding/binary"

	"github.com/walnutproxy/walnut/protocols"
)

// Errors after which the client's stream cannot be trusted (see the error
// policy in doc.go): the core answers CLIENT_ERROR with the text and
// closes the connection. Texts are memcached's where it has one.
var (
	errBadFormat   = &protocols.ProtocolError{Msg: "bad command line format"}
	errBadChunk    = &protocols.ProtocolError{Msg: "bad data chunk"}
	errTooLarge    = &protocols.ProtocolError{Msg: "object too large for cache"}
	errLineTooLong = &protocols.ProtocolError{Msg: "line too long"}
)

// Replies walnut gives itself, leaving the connection open. The CLIENT_ERROR
// texts are memcached's for the same input.
const (
	replyError       = "ERROR\r\n"
	replyBadFormat   = "CLIENT_ERROR bad command line format\r\n"
	replyBadDelta    = "CLIENT_ERROR invalid numeric delta argument\r\n"
	replyBadExptime  = "CLIENT_ERROR invalid exptime argument\r\n"
	replyDeleteUsage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
	replyDupFlag     = "CLIENT_ERROR duplicate flag\r\n"
	replyDupFlagMdMa = "CLIENT_ERROR invalid or duplicate flag\r\n"
	replyMN          = "MN\r\n"
	replyEnd         = "END\r\n"
)

// Which bytes a key may hold. protocol.txt excludes whitespace and
// control characters, but memcached itself only splits on spaces, and
// tools such as memcaslap put control bytes in their keys: walnut accepts
// what memcached accepts unless the pool asks for strict keys. Either way
// it refuses the bytes that would make a key mean one thing to walnut and
// another to the server: a NUL ends memcached's line early, and a CR or LF
// inside a key would end it for one of the two.
var (
	strictKeyBytes = func() (t [256]bool) {
		for i := range t {
			t[i] = i > ' ' && i != 0x7f
		}
		return t
	}()
	lenientKeyBytes = func() (t [256]bool) {
		for i := range t {
			t[i] = i != ' ' && i != 0 && i != '\r' && i != '\n'
		}
		return t
	}()
)

// versionKey is what "version" is routed by: the empty key, which
// nutcracker routes to hash 0.
var versionKey = []byte{}

// ParseRequest implements protocols.Codec.
func (c *Codec) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	next, err := c.lineEnd(buf)
	if next == 0 {
		return 0, err
	}
	// memcached accepts a bare "\n" as the end of a command line.
	le := next - 1
	if le > 0 && buf[le-1] == '\r' {
		le--
	}
	line := buf[:le]
	s, e := token(line, 0)
	name := line[s:e]
	n := next
	switch string(name) {
	case "get":
		c.parseRetrieval(line, name, e, cmdGet, req)
	case "gets":
		c.parseRetrieval(line, name, e, cmdGets, req)
	case "gat":
		c.parseRetrieval(line, name, e, cmdGat, req)
	case "gats":
		c.parseRetrieval(line, name, e, cmdGats, req)
	case "set":
		n, err = c.parseStorage(buf, line, next, e, cmdSet, req)
	case "add":
		n, err = c.parseStorage(buf, line, next, e, cmdAdd, req)
	case "replace":
		n, err = c.parseStorage(buf, line, next, e, cmdReplace, req)
	case "append":
		n, err = c.parseStorage(buf, line, next, e, cmdAppend, req)
	case "prepend":
		n, err = c.parseStorage(buf, line, next, e, cmdPrepend, req)
	case "cas":
		n, err = c.parseStorage(buf, line, next, e, cmdCas, req)
	case "incr":
		c.parseKeyed(buf, line, next, e, cmdIncr, req)
	case "decr":
		c.parseKeyed(buf, line, next, e, cmdDecr, req)
	case "touch":
		c.parseKeyed(buf, line, next, e, cmdTouch, req)
	case "delete":
		c.parseKeyed(buf, line, next, e, cmdDelete, req)
	case "mg":
		n, err = c.parseMeta(buf, line, next, e, cmdMg, req)
	case "ms":
		n, err = c.parseMeta(buf, line, next, e, cmdMs, req)
	case "md":
		n, err = c.parseMeta(buf, line, next, e, cmdMd, req)
	case "ma":
		n, err = c.parseMeta(buf, line, next, e, cmdMa, req)
	case "mn":
		// Responses come back in request order, so a no-op barrier is
		// already satisfied when walnut reaches it.
		local(req, replyMN)
	case "version":
		// Forwarded, as nutcracker does, to the server that owns the
		// empty key (the one hash 0 picks): clients read the servers'
		// version to choose what they speak (the meta protocol from
		// 1.6), and a proxy's own would mislead them.
		req.Cmd = cmdVersion
		req.Keys = append(req.Keys[:0], versionKey)
		req.Kind = protocols.Forward
	case "quit":
		req.Kind = protocols.Local
		req.Close = true
	case "stats", "flush_all", "verbosity", "cache_memlimit", "shutdown", "lru_crawler", "lru", "slabs",
		"watch", "me", "misbehave", "bget", "debugtime", "extstore", "refresh_certs":
		// These address one server, or all of them, not a key: a pool
		// has no single answer to give.
		unsupported(req, line, name, e)
	default:
		local(req, replyError)
	}
	if n == 0 {
		req.Keys, req.Args, req.Flags, req.Kind = req.Keys[:0], req.Args[:0], 0, protocols.Forward
		return 0, err
	}
	req.Raw = buf[:n:n]
	return n, nil
}

// lineEnd returns the index after the '\n' ending the command line at the
// start of buf, 0 if it has not arrived, or the error for a line over its
// bound. The bound applies to the line's content whether or not its end
// has arrived, so the verdict never depends on how the bytes are chunked.
func (c *Codec) lineEnd(buf []byte) (int, error) {
	nl := indexNL(buf, 0, c.lineMax+2)
	if tooLong(buf, nl, c.lineMax) {
		if c.getLineMax <= c.lineMax || !isRetrieval(buf) {
			return 0, c.lineErr
		}
		if nl < 0 {
			nl = indexNL(buf, c.lineMax+2, c.getLineMax+2)
		}
		if tooLong(buf, nl, c.getLineMax) {
			return 0, c.getLineErr
		}
	}
	return nl + 1, nil
}

// indexNL returns the index of the first '\n' in buf[from:to] (to clipped
// to buf), or -1.
func indexNL(buf []byte, from, to int) int {
	to = min(to, len(buf))
	if from >= to {
		return -1
	}
	if i := bytes.IndexByte(buf[from:to], '\n'); i >= 0 {
		return from + i
	}
	return -1
}

// tooLong reports whether the line whose '\n' is at nl (-1: not arrived)
// has more than max bytes of content. What has arrived of an unfinished
// line may end with the CR of its CRLF.
func tooLong(buf []byte, nl, max int) bool {
	if nl < 0 {
		return len(buf) > max+1
	}
	if nl > 0 && buf[nl-1] == '\r' {
		nl--
	}
	return nl > max
}

// isRetrieval reports whether buf starts with a retrieval command, whose
// line is bounded by the request size rather than maxLine. Like memcached,
// it looks past at most 100 leading spaces, so the verdict needs only the
// first bytes of a line.
func isRetrieval(buf []byte) bool {
	i := 0
	for i < len(buf) && i <= 100 && buf[i] == ' ' {
		i++
	}
	b := buf[i:]
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets ")) ||
		bytes.HasPrefix(b, []byte("gat ")) || bytes.HasPrefix(b, []byte("gats "))
}

// token returns the bounds of the first token in line at or after i;
// start == end when there is none. Only spaces separate tokens, as in
// memcached's tokenizer.
func token(line []byte, i int) (start, end int) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	start = i
	for i < len(line) && line[i] != ' ' {
		i++
	}
	return start, i
}

// maxFields is the most tokens a fixed-form command has after its name
// (cas with noreply has 6); fields counts any beyond without keeping them.
const maxFields = 7

// fields holds the tokens of a line after the command name.
type fields struct {
	n    int
	s, e [maxFields]int
}

func (f *fields) split(line []byte, i int) {
	for {
		s, e := token(line, i)
		if s == e {
			return
		}
		if f.n < maxFields {
			f.s[f.n], f.e[f.n] = s, e
		}
		f.n++
		i = e
	}
}

func (f *fields) tok(line []byte, i int) []byte {
	return line[f.s[i]:f.e[i]:f.e[i]]
}

// isNoreply reports whether token i is "noreply".
func (f *fields) isNoreply(line []byte, i int) bool {
	return string(line[f.s[i]:f.e[i]]) == "noreply"
}

// parseRetrieval parses get, gets, gat and gats, whose line holds all its
// request: "<cmd> [<exptime>] <key>*". A bad key makes memcached drop the
// whole answer for a CLIENT_ERROR, so walnut does the same.
func (c *Codec) parseRetrieval(line, name []byte, i int, cmd uint16, req *protocols.Request) {
	var exptime []byte
	if cmd == cmdGat || cmd == cmdGats {
		s, e := token(line, i)
		switch {
		case s == e:
			local(req, replyError)
			return
		case !validInt(line[s:e]):
			local(req, replyBadExptime)
			return
		}
		exptime = line[s:e:e]
		i = e
	}
	keys := req.Keys[:0]
	for {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		s := i
		i = c.keyEnd(line, i)
		if (i < len(line) && line[i] != ' ') || i-s > maxKeyLen {
			req.Keys = keys[:0]
			local(req, replyBadFormat)
			return
		}
		keys = append(keys, line[s:i:i])
	}
	req.Keys = keys
	if len(keys) == 0 {
		if cmd == cmdGat || cmd == cmdGats {
			// memcached answers a gat without keys with an empty result.
			local(req, replyEnd)
		} else {
			local(req, replyError)
		}
		return
	}
	// A part is rebuilt from these as "<cmd> [<exptime>] <its keys>".
	req.Args = append(req.Args[:0], name[:len(name):len(name)])
	if exptime != nil {
		req.Args = append(req.Args, exptime)
	}
	req.Kind = protocols.Split
	req.Cmd = cmd
}

// parseStorage parses set, add, replace, append, prepend and cas:
// "<cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]" and a
// data block. Once the block's length is known the request can be skipped
// whole, so other faults are answered without closing.
func (c *Codec) parseStorage(buf, line []byte, next, i int, cmd uint16, req *protocols.Request) (int, error) {
	var f fields
	f.split(line, i)
	want := 4
	if cmd == cmdCas {
		want = 5
	}
	// memcached answers a wrong token count with ERROR and reads the data
	// block as a command; walnut cannot tell where the request ends.
	if f.n != want && f.n != want+1 {
		return 0, errBadFormat
	}
	size, ok := parseUint(f.tok(line, 3))
	switch {
	case !ok:
		return 0, errBadFormat
	case size > uint64(c.maxValue):
		return 0, errTooLarge
	}
	end, err := c.dataEnd(buf, next, int(size))
	if end == 0 {
		return 0, err
	}
	// As in memcached, a token other than noreply in its place is ignored,
	// and noreply is looked for last, wherever that is, so that an error
	// is kept from a client that asked for no reply. A request that gets
	// past the checks has it in its place.
	noreply := f.isNoreply(line, f.n-1)
	key := f.tok(line, 0)
	if !c.validKey(key) || !validUint32(f.tok(line, 1)) || !validInt(f.tok(line, 2)) ||
		(cmd == cmdCas && !validUint(f.tok(line, 4))) {
		localUnlessNoreply(req, replyBadFormat, noreply)
		return end, nil
	}
	forward(req, cmd, key)
	if noreply {
		cut(req, buf, f.e[f.n-2], len(line), end, reqNoreply)
	}
	return end, nil
}

// dataEnd returns the end of the data block of size bytes that starts at
// start, with its "\r\n", or 0 if it has not all arrived, or an error.
func (c *Codec) dataEnd(buf []byte, start, size int) (int, error) {
	end := start + size + 2
	if c.maxRequest > 0 && end > c.maxRequest {
		return 0, protocols.ErrRequestTooLarge
	}
	if end > len(buf) {
		// Junk where the CR belongs is reported as soon as it is seen.
		if end-2 < len(buf) && buf[end-2] != '\r' {
			return 0, errBadChunk
		}
		return 0, nil
	}
	if buf[end-2] != '\r' || buf[end-1] != '\n' {
		return 0, errBadChunk
	}
	return end, nil
}

// parseKeyed parses the one-line commands on a key: incr and decr
// ("<cmd> <key> <delta> [noreply]"), touch ("touch <key> <exptime>
// [noreply]") and delete ("delete <key> [0] [noreply]"). The checks and
// their order are memcached's, so the same line gets the same error.
func (c *Codec) parseKeyed(buf, line []byte, next, i int, cmd uint16, req *protocols.Request) {
	var f fields
	f.split(line, i)
	var noreply bool
	bad := ""
	switch cmd {
	case cmdIncr, cmdDecr, cmdTouch:
		if f.n != 2 && f.n != 3 {
			local(req, replyError)
			return
		}
		noreply = f.isNoreply(line, f.n-1)
		switch {
		case !c.validKey(f.tok(line, 0)):
			bad = replyBadFormat
		case cmd == cmdTouch && !validInt(f.tok(line, 1)):
			bad = replyBadExptime
		case cmd != cmdTouch && !validUint(f.tok(line, 1)):
			bad = replyBadDelta
		}
	case cmdDelete:
		if f.n < 1 || f.n > 3 {
			local(req, replyError)
			return
		}
		if f.n > 1 {
			// The legacy hold time is accepted only as "0".
			zero := string(f.tok(line, 1)) == "0"
			noreply = f.isNoreply(line, f.n-1)
			if !(f.n == 2 && (zero || noreply)) && !(f.n == 3 && zero && noreply) {
				localUnlessNoreply(req, replyDeleteUsage, noreply)
				return
			}
		}
		if !c.validKey(f.tok(line, 0)) {
			bad = replyBadFormat
		}
	}
	if bad != "" {
		localUnlessNoreply(req, bad, noreply)
		return
	}
	forward(req, cmd, f.tok(line, 0))
	if noreply {
		cut(req, buf, f.e[f.n-2], len(line), next, reqNoreply)
	}
}

// parseMeta parses mg, md, ma ("<cmd> <key> <flag>*") and ms ("ms <key>
// <datalen> <flag>*" and a data block). Flags other than q are the
// server's business and go through untouched, opaque tokens included. The
// key is routed as sent: a base64 key (flag b) is hashed in its base64
// form, so a binary key must always be sent encoded to find its server.
func (c *Codec) parseMeta(buf, line []byte, next, i int, cmd uint16, req *protocols.Request) (int, error) {
	ks, ke := token(line, i)
	if ks == ke {
		local(req, replyError)
		return next, nil
	}
	i = ke
	end := next
	if cmd == cmdMs {
		s, e := token(line, i)
		if s == e {
			return 0, errBadFormat
		}
		size, ok := parseUint(line[s:e])
		switch {
		case !ok:
			return 0, errBadFormat
		case size > uint64(c.maxValue):
			return 0, errTooLarge
		}
		var err error
		if end, err = c.dataEnd(buf, next, int(size)); end == 0 {
			return 0, err
		}
		i = e
	}
	// Find the q flag and the end of the token before it. memcached reads
	// a flag from a token's first byte, so "qx" is q as well.
	nq, qe, prev := 0, 0, 0
	for last := i; ; {
		s, e := token(line, i)
		if s == e {
			break
		}
		if line[s] == 'q' {
			nq++
			qe, prev = e, last
		}
		last, i = e, e
	}
	key := line[ks:ke:ke]
	switch {
	case !c.validKey(key):
		local(req, replyBadFormat)
		return end, nil
	case nq > 1:
		// Stripping one q would let the server take the other.
		if cmd == cmdMd || cmd == cmdMa {
			local(req, replyDupFlagMdMa)
		} else {
			local(req, replyDupFlag)
		}
		return end, nil
	}
	forward(req, cmd, key)
	if nq == 1 {
		cut(req, buf, prev, qe, end, reqQuiet)
	}
	return end, nil
}

// unsupported answers a known command walnut does not serve. Given
// noreply, memcached would send nothing even for an error, and a client
// that sent it is not reading.
func unsupported(req *protocols.Request, line, name []byte, i int) {
	last := name
	for {
		s, e := token(line, i)
		if s == e {
			break
		}
		last, i = line[s:e], e
	}
	req.Kind = protocols.Local
	if string(last) == "noreply" {
		return
	}
	r := append(req.Reply[:0], "SERVER_ERROR unsupported command "...)
	r = append(r, name...)
	req.Reply = append(r, '\r', '\n')
}

func forward(req *protocols.Request, cmd uint16, key []byte) {
	req.Kind = protocols.Forward
	req.Cmd = cmd
	req.Keys = append(req.Keys[:0], key)
}

// cut records the request as the bytes before from and from to on (up
// to end), dropping a noreply or q token, for AppendRequest.
func cut(req *protocols.Request, buf []byte, from, to, end int, flag uint16) {
	req.Flags |= flag
	req.Args = append(req.Args[:0], buf[:from:from], buf[to:end:end])
}

func local(req *protocols.Request, reply string) {
	req.Kind = protocols.Local
	req.Reply = append(req.Reply[:0], reply...)
}

// localUnlessNoreply answers with reply unless the client asked for no
// reply: memcached drops even its errors then, and the client is not
// reading.
func localUnlessNoreply(req *protocols.Request, reply string, noreply bool) {
	if noreply {
		req.Kind = protocols.Local
		return
	}
	local(req, reply)
}

// keyEnd returns the index of the first byte at or after i in line that
// cannot be in a key. Multi-gets spend most of their parsing here, so it
// checks eight bytes at a time while none is a space, a control byte or
// DEL.
func (c *Codec) keyEnd(line []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(line) {
		x := binary.LittleEndian.Uint64(line[i:])
		del := x ^ 0x7f*lo
		// The high bit of a byte is set in the first term if the byte
		// is below 0x21, in the second if it is 0x7f (a borrow only ever
		// flags a byte above one already flagged).
		if ((x-0x21*lo)&^x|(del-lo)&^del)&hi != 0 {
			break
		}
		i += 8
	}
	for i < len(line) && c.keyOK[line[i]] {
		i++
	}
	return i
}

func (c *Codec) validKey(k []byte) bool {
	if len(k) == 0 || len(k) > maxKeyLen {
		return false
	}
	for _, b := range k {
		if !c.keyOK[b] {
			return false
		}
	}
	return true
}

// parseUint parses an unsigned decimal as memcached's strtoull-based
// parsing takes it from a client: an optional '+', then digits, within
// 64 bits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	return digits(b)
}

// digits parses a plain decimal within 64 bits.
func digits(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		d := uint64(ch - '0')
		if d > 9 {
			return 0, false
		}
		const cutoff = (1<<64 - 1) / 10
		if v > cutoff || (v == cutoff && d > (1<<64-1)%10) {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func validUint(b []byte) bool {
	_, ok := parseUint(b)
	return ok
}

// validUint32 checks client flags, which memcached stores in 32 bits. It
// truncates a larger number silently; walnut refuses it.
func validUint32(b []byte) bool {
	v, ok := parseUint(b)
	return ok && v <= 1<<32-1
}

// validInt checks an exptime: a signed decimal within 64 bits, as
// memcached's strtol takes it (it truncates to 32 bits itself).
func validInt(b []byte) bool {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	} else if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	v, ok := digits(b)
	return ok && (v < 1<<63 || (neg && v == 1<<63))
}
