package redis

import (
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// Replies walnut sends when the parts of a Split request cannot be
// merged: a server answered something its command never answers.
// nutcracker answers such a reply "Invalid argument" (EINVAL); walnut
// says so too, and why.
const (
	replyUnexpected = "-ERR Invalid argument (unexpected reply from a server)\r\n"
	replyMismatch   = "-ERR Invalid argument (a server's reply does not match the keys sent to it)\r\n"
	replyNoParts    = "-ERR walnut: no reply for the request\r\n"
)

// AppendReply implements protocols.Codec. A failed part, or a part whose
// server answered an error, makes the whole reply an error (the first
// one in parts order): a client cannot be told that some keys were set.
// A request answered whole by one server gets that server's reply as it
// is, errors included.
func (c *Codec) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if req.Conn != protocols.Shared && !onceFanOut(req) {
		return c.replyDedicated(dst, req, parts)
	}
	if req.Kind == protocols.Broadcast || req.Kind == protocols.Targeted {
		return c.mergeFanOut(dst, req, parts)
	}
	if len(parts) == 0 {
		return append(dst, replyNoParts...)
	}
	if req.Kind != protocols.Split || (len(parts) == 1 && parts[0].Keys == nil) {
		// The server answered the whole request.
		if parts[0].Err != nil {
			return appendErrText(append(dst, "-ERR "...), parts[0].Err.Error())
		}
		return append(dst, parts[0].Resp...)
	}
	for i := range parts {
		p := &parts[i]
		if p.Err != nil {
			return appendErrText(append(dst, "-ERR "...), p.Err.Error())
		}
		if len(p.Resp) > 0 && p.Resp[0] == '-' {
			return appendFragmentError(dst, p.Resp)
		}
	}
	switch policies[req.Cmd].act {
	case actMGet:
		return c.mergeArrays(dst, req, parts)
	case actMSet:
		for i := range parts {
			if string(parts[i].Resp) != "+OK\r\n" {
				return append(dst, replyUnexpected...)
			}
		}
		return append(dst, "+OK\r\n"...)
	case actSumInt:
		var sum int64
		for i := range parts {
			r := parts[i].Resp
			if len(r) < 4 || r[0] != ':' || r[len(r)-2] != '\r' || r[len(r)-1] != '\n' {
				return append(dst, replyUnexpected...)
			}
			n, ok := parseInt(r[1 : len(r)-2])
			if !ok {
				return append(dst, replyUnexpected...)
			}
			sum += n
		}
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, sum, 10)
		return append(dst, '\r', '\n')
	}
	return append(dst, replyUnexpected...)
}

// cursor walks one part's reply array: pos is where its element next
// (the answer for its Keys[next]) starts.
type cursor struct {
	pos, next int
}

// mergeArrays builds MGET's reply: element k comes from the part that
// carried key k. Parts list their keys in ascending order (the core
// groups them in key order), so every key is at the head of some part's
// cursor and one pass over the keys does it; keys in any other order
// take a slower search.
func (c *Codec) mergeArrays(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	var stack [16]cursor
	cur := stack[:0]
	if len(parts) > len(stack) {
		cur = make([]cursor, 0, len(parts))
	}
	n := len(req.Keys)
	total := 0
	for i := range parts {
		cnt, pos, st := arrayHeader(parts[i].Resp)
		if st != hdrOK || cnt != int64(len(parts[i].Keys)) {
			return append(dst, replyMismatch...)
		}
		total += len(parts[i].Keys)
		cur = append(cur, cursor{pos: pos})
	}
	if total != n {
		return append(dst, replyMismatch...)
	}
	start := len(dst)
	dst = appendCount(dst, '*', n)
	last := 0
	for k := 0; k < n; k++ {
		p, elem := -1, 0
		for j := 0; j < len(parts); j++ {
			q := last + j
			if q >= len(parts) {
				q -= len(parts)
			}
			if h := cur[q].next; h < len(parts[q].Keys) && parts[q].Keys[h] == int32(k) {
				p, elem = q, cur[q].pos
				break
			}
		}
		if p < 0 {
			var ok bool
			if p, elem, ok = c.findElement(parts, k); !ok {
				return append(dst[:start], replyMismatch...)
			}
		} else {
			last = p
		}
		r := parts[p].Resp
		l := c.elemLen(r[elem:])
		if l == 0 {
			return append(dst[:start], replyMismatch...)
		}
		dst = append(dst, r[elem:elem+l]...)
		if elem == cur[p].pos {
			cur[p].pos += l
			cur[p].next++
		}
	}
	return dst
}

// findElement locates key k's element when parts' keys are not in
// ascending order: slow, but correct for any order.
func (c *Codec) findElement(parts []protocols.Part, k int) (p, pos int, ok bool) {
	for p = range parts {
		for j, key := range parts[p].Keys {
			if key != int32(k) {
				continue
			}
			r := parts[p].Resp
			_, pos, _ = arrayHeader(r)
			for ; j > 0; j-- {
				l := c.elemLen(r[pos:])
				if l == 0 {
					return 0, 0, false
				}
				pos += l
			}
			return p, pos, true
		}
	}
	return 0, 0, false
}

// elemLen returns the length of the array element at the start of r, or
// 0 if there is no complete element. MGET's elements are bulk strings,
// which take a shortcut past the general walk.
func (c *Codec) elemLen(r []byte) int {
	if len(r) > 0 && r[0] == '$' {
		if l, next, st := parseHeader(r, 1); st == hdrOK {
			if l == -1 {
				return next
			}
			end := next + int(l)
			if l >= 0 && end+2 <= len(r) && r[end] == '\r' && r[end+1] == '\n' {
				return end + 2
			}
			return 0
		}
	}
	n, err := replyLen(r, c.maxReplyBulk)
	if err != nil {
		return 0
	}
	return n
}

// arrayHeader reads the "*n\r\n" that starts an array reply.
func arrayHeader(r []byte) (int64, int, int) {
	if len(r) == 0 || r[0] != '*' {
		return 0, 0, hdrBad
	}
	return parseHeader(r, 1)
}

// appendFragmentError answers a split request one of whose servers
// answered resp, an error: nutcracker's "Invalid argument" (EINVAL, its
// answer then), followed by the server's own words.
func appendFragmentError(dst, resp []byte) []byte {
	msg := resp[1:]
	if n := len(msg); n >= 2 && msg[n-2] == '\r' && msg[n-1] == '\n' {
		msg = msg[:n-2]
	}
	dst = append(dst, "-ERR Invalid argument (a server answered: "...)
	dst = appendSanitized(dst, msg, 512)
	return append(dst, ")\r\n"...)
}
