package redis

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.Sizer = (*Codec)(nil)

// RequestSize implements protocols.Sizer. A request is an array of bulk
// strings, walked as a reply is, or an inline line, whose size no header
// gives.
func (c *Codec) RequestSize(buf []byte) int {
	if len(buf) == 0 || buf[0] != '*' {
		return 0
	}
	return atLeast(buf)
}

// ResponseSize implements protocols.Sizer. A response is one value, but
// on a dedicated connection it may be several (MULTI's +OK before EXEC's
// array, a subscription's confirmations and messages up to a PONG): the
// values buf holds whole are stepped over, and the size is that of the
// first one it does not. On a shared connection the first value is the
// one not whole, or the buffer would not be full.
func (c *Codec) ResponseSize(buf []byte) int {
	pos := 0
	for pos < len(buf) {
		n, whole := valueSize(buf[pos:])
		if !whole {
			if n == 0 {
				return 0
			}
			return pos + n
		}
		pos += n
	}
	return 0
}

// atLeast walks the RESP value at the start of buf as replyLen does, but
// without judging it: it returns where the first bulk string that buf
// does not hold whole ends, or 0 when buf ends inside a header or a
// line, holds the value whole, or holds something that is not RESP (the
// parser will say what).
func atLeast(buf []byte) int {
	if n, whole := valueSize(buf); !whole {
		return n
	}
	return 0
}

// valueSize is atLeast that also tells a value buf holds whole: it
// returns its length and true then.
func valueSize(buf []byte) (int, bool) {
	pos, pending := 0, 1
	for pending > 0 && pos < len(buf) {
		t := buf[pos]
		switch t {
		case '$', '!', '=':
			l, next, st := parseHeader(buf, pos+1)
			if st != hdrOK {
				return 0, false
			}
			pending--
			if l < 0 {
				pos = next
				continue
			}
			end := next + int(l) + 2
			if end > len(buf) {
				return end, false
			}
			pos = end
		case '*', '~', '>', '%', '|':
			n, next, st := parseHeader(buf, pos+1)
			if st != hdrOK || n > maxAggregate {
				return 0, false
			}
			pos = next
			switch {
			case n < 0:
				pending--
			case t == '%':
				pending += 2*int(n) - 1
			case t == '|':
				pending += 2 * int(n)
			default:
				pending += int(n) - 1
			}
		case '+', '-', ':', '_', ',', '#', '(':
			nl := bytes.IndexByte(buf[pos:], '\n')
			if nl < 0 {
				return 0, false
			}
			pos += nl + 1
			pending--
		default:
			return 0, false
		}
	}
	if pending > 0 {
		return 0, false
	}
	return pos, true
}
