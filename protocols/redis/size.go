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

// ResponseSize implements protocols.Sizer.
func (c *Codec) ResponseSize(buf []byte) int { return atLeast(buf) }

// atLeast walks the RESP value at the start of buf as replyLen does, but
// without judging it: it returns where the first bulk string that buf
// does not hold whole ends, or 0 when buf ends inside a header or a
// line, or holds something that is not RESP (the parser will say what).
func atLeast(buf []byte) int {
	pos, pending := 0, 1
	for pending > 0 && pos < len(buf) {
		t := buf[pos]
		switch t {
		case '$', '!', '=':
			l, next, st := parseHeader(buf, pos+1)
			if st != hdrOK {
				return 0
			}
			pending--
			if l < 0 {
				pos = next
				continue
			}
			end := next + int(l) + 2
			if end > len(buf) {
				return end
			}
			pos = end
		case '*', '~', '>', '%', '|':
			n, next, st := parseHeader(buf, pos+1)
			if st != hdrOK || n > maxAggregate {
				return 0
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
				return 0
			}
			pos += nl + 1
			pending--
		default:
			return 0
		}
	}
	return 0
}
