package redis

import (
	"bytes"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// PUBSUB's introspection over a pool. A channel's subscribers are on
// the server it hashes to (SUBSCRIBE and SSUBSCRIBE send each channel
// there), a pattern's on every server (PSUBSCRIBE goes to all), so:
//
//	PUBSUB CHANNELS [pattern]      every server's active channels, each
//	PUBSUB SHARDCHANNELS [pattern] once, in server order
//	PUBSUB NUMSUB ch ...           per channel, in the client's order, the
//	PUBSUB SHARDNUMSUB ch ...      sum of the servers' counts: the owner's,
//	                               plus those of clients that subscribed
//	                               on another server directly
//	PUBSUB NUMPAT                  the largest server's count: a pattern
//	                               subscribed through walnut is on every
//	                               server, and NUMPAT counts patterns,
//	                               not subscriptions (Redis' size of its
//	                               pattern table), so each server counts
//	                               it once and the pool does too
//
// Asking every server rather than only the owners of the channels gives
// the same answer for subscriptions made through walnut, and counts
// those made on a server directly as well.

// mergeChannels concatenates the servers' arrays of channel names,
// leaving out names an earlier server listed (a server lists each once).
func mergeChannels(dst []byte, parts []protocols.Part) []byte {
	total := 0
	for i := range parts {
		cnt, _, st := arrayHeader(parts[i].Resp)
		if st != hdrOK || cnt < 0 {
			return appendUnexpected(dst, &parts[i])
		}
		total += int(cnt)
	}
	// A few names are compared with each other; many go through a map.
	var seen map[string]bool
	if total > 64 {
		seen = make(map[string]bool, total)
	}
	dup := func(i int, name []byte) bool {
		if seen != nil {
			d := seen[string(name)]
			seen[string(name)] = true
			return d
		}
		for j := range parts[:i] {
			r := parts[j].Resp
			cnt, pos, _ := arrayHeader(r)
			for ; cnt > 0; cnt-- {
				other, next, _ := bulkAt(r, pos)
				if bytes.Equal(other, name) {
					return true
				}
				pos = next
			}
		}
		return false
	}
	n := 0
	for i := range parts {
		r := parts[i].Resp
		cnt, pos, _ := arrayHeader(r)
		for ; cnt > 0; cnt-- {
			name, next, ok := bulkAt(r, pos)
			if !ok {
				return appendUnexpected(dst, &parts[i])
			}
			if !dup(i, name) {
				n++
			}
			pos = next
		}
	}
	if seen != nil {
		clear(seen)
	}
	dst = appendCount(dst, '*', n)
	for i := range parts {
		r := parts[i].Resp
		cnt, pos, _ := arrayHeader(r)
		for ; cnt > 0; cnt-- {
			name, next, _ := bulkAt(r, pos)
			if !dup(i, name) {
				dst = append(dst, r[pos:next]...)
			}
			pos = next
		}
	}
	return dst
}

// mergeNumSub sums the servers' counts for each channel: every server
// answers the same channels in the same order, each followed by its
// count.
func mergeNumSub(dst []byte, parts []protocols.Part) []byte {
	cnt, pos0, st := arrayHeader(parts[0].Resp)
	if st != hdrOK || cnt < 0 || cnt%2 != 0 {
		return appendUnexpected(dst, &parts[0])
	}
	pos := make([]int, len(parts))
	for i := range parts {
		m, p, st := arrayHeader(parts[i].Resp)
		if st != hdrOK || m != cnt {
			return appendUnexpected(dst, &parts[i])
		}
		pos[i] = p
	}
	start := len(dst)
	dst = appendCount(dst, '*', int(cnt))
	for k := int64(0); k < cnt/2; k++ {
		name, _, ok := bulkAt(parts[0].Resp, pos0)
		if !ok {
			return appendUnexpected(dst[:start], &parts[0])
		}
		var sum int64
		for i := range parts {
			r := parts[i].Resp
			ch, next, ok := bulkAt(r, pos[i])
			if !ok || !bytes.Equal(ch, name) {
				return appendUnexpected(dst[:start], &parts[i])
			}
			l, err := replyLen(r[next:], len(r))
			if err != nil || l == 0 {
				return appendUnexpected(dst[:start], &parts[i])
			}
			v, ok := intReply(r[next : next+l])
			if !ok {
				return appendUnexpected(dst[:start], &parts[i])
			}
			sum += v
			pos[i] = next + l
		}
		r0 := parts[0].Resp
		_, next, _ := bulkAt(r0, pos0)
		dst = append(dst, r0[pos0:next]...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, sum, 10)
		dst = append(dst, '\r', '\n')
		pos0 = pos[0]
	}
	return dst
}

// mergeMaxInt answers the largest of the servers' integers.
func mergeMaxInt(dst []byte, parts []protocols.Part) []byte {
	var top int64
	for i := range parts {
		n, ok := intReply(parts[i].Resp)
		if !ok {
			return appendUnexpected(dst, &parts[i])
		}
		top = max(top, n)
	}
	return appendInt(dst, top)
}

// bulkAt reads the bulk string at r[pos:]: its bytes and where the next
// value starts.
func bulkAt(r []byte, pos int) ([]byte, int, bool) {
	if pos >= len(r) || r[pos] != '$' {
		return nil, 0, false
	}
	l, next, st := parseHeader(r, pos+1)
	if st != hdrOK || l < 0 || next+int(l)+2 > len(r) {
		return nil, 0, false
	}
	return r[next : next+int(l)], next + int(l) + 2, true
}
