package redis

import (
	"bytes"
	"errors"
)

// Reply errors. A server that sends one is not speaking RESP (or is not a
// Redis server at all), so the core drops the connection.
var (
	errBadReply    = errors.New("redis: malformed reply from server")
	errReplyTooBig = errors.New("redis: reply value larger than the pool's max value size")
)

// maxAggregate bounds an array's (map's, set's) element count, as a sanity
// check on what a server claims.
const maxAggregate = 1<<31 - 1

// replyLen returns the length of the RESP value at the start of buf, 0 if
// buf holds only part of it. Nested aggregates are walked without
// recursion, by counting the values still expected, so a deep reply costs
// no stack and cannot overflow it. RESP3 types are accepted too, should a
// server speak it.
func replyLen(buf []byte, maxBulk int) (int, error) {
	pos, pending := 0, 1
	for pending > 0 {
		if pos >= len(buf) {
			return 0, nil
		}
		t := buf[pos]
		switch t {
		case '$', '!', '=': // bulk string, RESP3 blob error, verbatim string
			l, next, st := parseHeader(buf, pos+1)
			switch {
			case st == hdrMore:
				return 0, nil
			case st == hdrBad:
				return 0, errBadReply
			case l == -1 && t == '$':
				pos = next
				pending--
				continue
			case l < 0:
				return 0, errBadReply
			case l > int64(maxBulk):
				return 0, errReplyTooBig
			}
			end := next + int(l)
			if end+2 > len(buf) {
				if end < len(buf) && buf[end] != '\r' {
					return 0, errBadReply
				}
				return 0, nil
			}
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return 0, errBadReply
			}
			pos = end + 2
			pending--
		case '*', '~', '>', '%', '|': // array, set, push, map, attribute
			n, next, st := parseHeader(buf, pos+1)
			switch {
			case st == hdrMore:
				return 0, nil
			case st == hdrBad, n > maxAggregate:
				return 0, errBadReply
			case n == -1 && t == '*':
				n = 0
			case n < 0:
				return 0, errBadReply
			}
			pos = next
			switch t {
			case '%':
				pending += 2*int(n) - 1
			case '|':
				// An attribute is metadata before the value it annotates:
				// that value is still pending.
				pending += 2 * int(n)
			default:
				pending += int(n) - 1
			}
		case '+', '-', ':', '_', ',', '#', '(':
			// Lines are bounded too, lest a server that never sends a
			// newline make the core buffer without end; but not below
			// 64 KiB, which error messages and RESP3 big numbers may
			// need even where values are small. The bound applies to
			// the content, whether or not its end has arrived, so that
			// the verdict does not depend on how the bytes are chunked.
			maxLine := max(maxBulk, inlineMax)
			nl := bytes.IndexByte(buf[pos+1:], '\n')
			if nl < 0 {
				// What has arrived may end with the CR of the CRLF.
				if len(buf)-pos-1 > maxLine+1 {
					return 0, errReplyTooBig
				}
				return 0, nil
			}
			if nl == 0 || buf[pos+nl] != '\r' {
				return 0, errBadReply
			}
			if nl-1 > maxLine {
				return 0, errReplyTooBig
			}
			line := buf[pos+1 : pos+nl]
			if !validLine(t, line) {
				return 0, errBadReply
			}
			pos += nl + 2
			pending--
		default:
			return 0, errBadReply
		}
	}
	return pos, nil
}

// validLine checks the few line types whose content has a fixed form.
func validLine(t byte, line []byte) bool {
	switch t {
	case ':':
		_, ok := parseInt(line)
		return ok
	case '_':
		return len(line) == 0
	case '#':
		return len(line) == 1 && (line[0] == 't' || line[0] == 'f')
	case '+', '-':
		return bytes.IndexByte(line, '\r') < 0
	}
	return true
}
