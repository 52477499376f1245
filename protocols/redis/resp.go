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
// no stack and cannot overflow it. RESP3's types are framed too, for the
// connections of RESP3 clients: maps (%), sets (~), pushes (>), doubles
// (,), booleans (#), big numbers ((), verbatim strings (=), blob errors
// (!), nulls (_), and attributes (|), which come before the value they
// annotate and are framed with it. Streamed strings and aggregates ($?,
// *?), which Redis never sends, are refused.
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
			if t == '=' && (l < 4 || buf[next+3] != ':') {
				// A verbatim string starts with its format: "txt:".
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
	case '(':
		// A big number: an integer of any length.
		if len(line) > 0 && line[0] == '-' {
			line = line[1:]
		}
		if len(line) == 0 {
			return false
		}
		for _, c := range line {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	case ',':
		// A double as Redis writes it: digits, sign, point and exponent,
		// or inf, -inf, nan.
		if len(line) == 0 {
			return false
		}
		for _, c := range line {
			if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' &&
				c != 'i' && c != 'n' && c != 'f' && c != 'a' {
				return false
			}
		}
		return true
	case '+', '-':
		return bytes.IndexByte(line, '\r') < 0
	}
	return true
}
