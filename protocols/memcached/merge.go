package memcached

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

// Replies walnut sends when the parts of a multi-get cannot be merged.
const (
	replyMismatch = "SERVER_ERROR walnut: a server's response does not match the keys sent to it\r\n"
	replyNoParts  = "SERVER_ERROR walnut: no response for the request\r\n"
)

// AppendReply implements protocols.Codec.
func (c *Codec) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if req.Flags&reqNoreply != 0 {
		// The server's answer, even an error or a failure, is not for
		// a client that asked for none.
		return dst
	}
	if len(parts) == 0 {
		return append(dst, replyNoParts...)
	}
	if req.Kind != protocols.Split || (len(parts) == 1 && parts[0].Keys == nil) {
		// The server answered the request as the client sent it.
		p := &parts[0]
		if p.Err != nil {
			return appendErrLine(dst, "SERVER_ERROR ", p.Err.Error())
		}
		if req.Flags&reqQuiet != 0 && quietHides(req.Cmd, p.Resp) {
			return dst
		}
		return append(dst, p.Resp...)
	}
	return c.mergeValues(dst, req, parts)
}

// quietHides reports whether resp is the code the q flag hides for cmd.
// These are what memcached 1.6 hides, which for md and ma is narrower
// than its protocol.txt suggests: md's NF, and ma's NF and NS, still show.
// memcached also hides ma's VA when it incremented an existing item (but
// not when N created one); walnut shows every VA, as telling the two
// apart would need the server's state.
func quietHides(cmd uint16, resp []byte) bool {
	code := "HD"
	if cmd == cmdMg {
		code = "EN"
	}
	return len(resp) > 2 && string(resp[:2]) == code && (resp[2] == ' ' || resp[2] == '\r')
}

// cursor walks one part's response while the keys are merged: pos is
// where its next VALUE (or its END) starts, next the index into the
// part's Keys of the key it answers next. The VALUE at pos is parsed once
// (ks, ke: its key; vend: its end, 0 if not a VALUE) however many misses
// go by before it is used.
type cursor struct {
	pos, next    int
	parsed       bool
	ks, ke, vend int
}

// maxStackParts is how many parts mergeValues tracks without allocating.
const maxStackParts = 64

// mergeValues builds a multi-get's reply from its parts: the VALUE blocks
// in the client's key order (not server by server), misses left out, one
// END. A part must answer its keys in the order it was sent them, each
// once at most; anything else (a value for a key it did not carry, out
// of order, too many) fails the whole reply, as does a failed part or an
// error line, for a client cannot be told that some keys were read.
//
// Parts list their keys in ascending order (the core groups them in key
// order), so every key is at the head of some part's cursor and one pass
// over the keys does it. A duplicated key is asked of its server as many
// times as the client gave it, and memcached answers each, so each copy
// finds its own VALUE.
func (c *Codec) mergeValues(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	for i := range parts {
		if err := parts[i].Err; err != nil {
			return appendErrLine(dst, "SERVER_ERROR ", err.Error())
		}
	}
	for i := range parts {
		if l := finalLine(parts[i].Resp); string(l) != replyEnd {
			if isErrorLine(bytes.TrimSuffix(l, []byte("\r\n"))) {
				return append(dst, l...)
			}
			return append(dst, replyMismatch...)
		}
	}
	// Cursors live on the stack, in an array no larger than needed, as
	// zeroing it is a good part of merging a few keys.
	switch {
	case len(parts) <= 8:
		var stack [8]cursor
		return c.mergeCursors(dst, req, parts, stack[:len(parts)])
	case len(parts) <= maxStackParts:
		var stack [maxStackParts]cursor
		return c.mergeCursors(dst, req, parts, stack[:len(parts)])
	}
	return c.mergeCursors(dst, req, parts, make([]cursor, len(parts)))
}

func (c *Codec) mergeCursors(dst []byte, req *protocols.Request, parts []protocols.Part, cur []cursor) []byte {
	start := len(dst)
	last := 0
	for k := range req.Keys {
		p := -1
		for j := range parts {
			q := last + j
			if q >= len(parts) {
				q -= len(parts)
			}
			if h := cur[q].next; h < len(parts[q].Keys) && parts[q].Keys[h] == int32(k) {
				p = q
				break
			}
		}
		if p < 0 {
			return c.mergeAnyOrder(dst[:start], req, parts)
		}
		last = p
		cu := &cur[p]
		cu.next++
		r := parts[p].Resp
		if !cu.parsed {
			cu.ks, cu.ke, cu.vend = valueAt(r, cu.pos)
			cu.parsed = true
		}
		if cu.vend > 0 && string(r[cu.ks:cu.ke]) == string(req.Keys[k]) {
			dst = append(dst, r[cu.pos:cu.vend]...)
			cu.pos, cu.parsed = cu.vend, false
		}
	}
	for i := range parts {
		if cur[i].next != len(parts[i].Keys) || string(parts[i].Resp[cur[i].pos:]) != replyEnd {
			return append(dst[:start], replyMismatch...)
		}
	}
	return append(dst, replyEnd...)
}

// mergeAnyOrder merges parts whose keys are not in ascending order,
// which the core never sends: correct for any order, but it allocates.
func (c *Codec) mergeAnyOrder(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	type span struct {
		part, start, end int // end 0: a miss
		seen             bool
	}
	spans := make([]span, len(req.Keys))
	for p := range parts {
		r := parts[p].Resp
		pos := 0
		for _, k := range parts[p].Keys {
			if k < 0 || int(k) >= len(spans) || spans[k].seen {
				return append(dst, replyMismatch...)
			}
			spans[k].seen = true
			if ks, ke, end := valueAt(r, pos); end > 0 && string(r[ks:ke]) == string(req.Keys[k]) {
				spans[k] = span{part: p, start: pos, end: end, seen: true}
				pos = end
			}
		}
		if string(r[pos:]) != replyEnd {
			return append(dst, replyMismatch...)
		}
	}
	for _, s := range spans {
		if !s.seen {
			return append(dst, replyMismatch...)
		}
	}
	for _, s := range spans {
		if s.end > 0 {
			dst = append(dst, parts[s.part].Resp[s.start:s.end]...)
		}
	}
	return append(dst, replyEnd...)
}

// valueAt parses the VALUE at r[pos:]: the bounds of its key and the end
// of its data block, or all zero if there is none (the END line) or it is
// not whole.
func valueAt(r []byte, pos int) (ks, ke, end int) {
	if !bytes.HasPrefix(r[pos:], []byte("VALUE ")) {
		return 0, 0, 0
	}
	nl := bytes.IndexByte(r[pos:], '\n')
	if nl < 1 || r[pos+nl-1] != '\r' {
		return 0, 0, 0
	}
	ks, ke, size, ok := valueLine(r[pos : pos+nl-1])
	lineEnd := pos + nl + 1
	if !ok || size > uint64(len(r)-lineEnd) {
		return 0, 0, 0
	}
	end = lineEnd + int(size) + 2
	if end > len(r) || r[end-2] != '\r' || r[end-1] != '\n' {
		return 0, 0, 0
	}
	return pos + ks, pos + ke, end
}

// finalLine returns the last line of a response, with its CRLF. It starts
// after the previous '\n', which ends a line or a data block's CRLF, as
// no line holds one.
func finalLine(r []byte) []byte {
	if len(r) < 2 {
		return r
	}
	return r[bytes.LastIndexByte(r[:len(r)-1], '\n')+1:]
}
