package kvline

import (
	"bytes"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// Replies walnut makes when its parts cannot be merged.
const (
	replyMismatch = "FAIL walnut: a backend's reply does not match the keys sent to it\r\n"
	replyNoParts  = "FAIL walnut: no reply for the request\r\n"
)

// AppendReply implements protocols.Codec. A failed part fails the whole
// reply: a client told COUNT 1 or VALUES 3 cannot be told that some
// backend did not answer.
func (c *Codec) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if len(parts) == 0 {
		return append(dst, replyNoParts...)
	}
	for i := range parts {
		if err := parts[i].Err; err != nil {
			return appendLine(dst, "FAIL ", err.Error())
		}
	}
	switch Command(req.Cmd) {
	case CmdDel, CmdSize:
		return sumCounts(dst, parts)
	case CmdMget:
		if len(parts) > 1 || parts[0].Keys != nil {
			return mergeValues(dst, req, parts)
		}
	}
	// One backend answered the request as the client sent it.
	return append(dst, parts[0].Resp...)
}

// sumCounts answers DEL and SIZE: the sum of the parts' counts, or the
// first ERROR a backend gave.
func sumCounts(dst []byte, parts []protocols.Part) []byte {
	var total uint64
	for i := range parts {
		r := parts[i].Resp
		l := bytes.TrimSuffix(r, []byte("\r\n"))
		if isError(l) {
			return append(dst, r...)
		}
		n, ok := count(l)
		if !ok {
			return append(dst, replyMismatch...)
		}
		total += n
	}
	dst = append(dst, "COUNT "...)
	dst = strconv.AppendUint(dst, total, 10)
	return append(dst, '\r', '\n')
}

// cursor walks one part's reply while an MGET is merged: pos is where
// its next line starts, next the index in the part's Keys of the key
// that line answers.
type cursor struct{ pos, next int }

// mergeValues builds a split MGET's reply: one line per key, in the
// client's order, whichever backend holds it. The core lists each
// part's keys in ascending order, so every key of the request is the
// next one of exactly one part, and one pass over the keys does it.
func mergeValues(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	for i := range parts {
		r := parts[i].Resp
		nl := bytes.IndexByte(r, '\n')
		if nl < 1 {
			return append(dst, replyMismatch...)
		}
		l := r[:nl-1]
		if isError(l) {
			return append(dst, r[:nl+1]...)
		}
		if n, ok := header(l); !ok || parts[i].Keys == nil || n != uint64(len(parts[i].Keys)) {
			return append(dst, replyMismatch...)
		}
	}
	// Cursors live on the stack for the usual few parts.
	if len(parts) <= maxStackParts {
		var stack [maxStackParts]cursor
		return mergeCursors(dst, req, parts, stack[:len(parts)])
	}
	return mergeCursors(dst, req, parts, make([]cursor, len(parts)))
}

func mergeCursors(dst []byte, req *protocols.Request, parts []protocols.Part, cur []cursor) []byte {
	for i := range cur {
		// Past the header, which mergeValues checked.
		cur[i].pos = bytes.IndexByte(parts[i].Resp, '\n') + 1
	}
	start := len(dst)
	dst = append(dst, "VALUES "...)
	dst = strconv.AppendInt(dst, int64(len(req.Keys)), 10)
	dst = append(dst, '\r', '\n')
	last := 0
	for k := range req.Keys {
		// The part of key k, looked for from the part of the key before:
		// runs of keys on one backend find theirs at once.
		p := -1
		for j := range parts {
			q := (last + j) % len(parts)
			if h := cur[q].next; h < len(parts[q].Keys) && parts[q].Keys[h] == int32(k) {
				p = q
				break
			}
		}
		if p < 0 {
			return append(dst[:start], replyMismatch...)
		}
		last = p
		cu := &cur[p]
		r := parts[p].Resp
		nl := bytes.IndexByte(r[cu.pos:], '\n')
		if nl < 0 {
			return append(dst[:start], replyMismatch...)
		}
		dst = append(dst, r[cu.pos:cu.pos+nl+1]...)
		cu.pos += nl + 1
		cu.next++
	}
	for i := range cur {
		if cur[i].next != len(parts[i].Keys) || cur[i].pos != len(parts[i].Resp) {
			// A key listed twice or out of range: never from the core.
			return append(dst[:start], replyMismatch...)
		}
	}
	return dst
}
