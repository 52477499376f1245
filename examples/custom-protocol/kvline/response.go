package kvline

import (
	"bytes"
	"errors"

	"github.com/walnutproxy/walnut/protocols"
)

// Response errors. A backend that sends one is not speaking kvline, or
// not in step with walnut: the core closes that connection and fails
// the requests waiting on it, since the replies after a bad one cannot
// be matched to requests any more.
var (
	errBadResponse     = errors.New("kvline: malformed reply from backend")
	errRespLineTooLong = errors.New("kvline: reply line from backend too long")
	errValueTooLarge   = errors.New("kvline: value from backend larger than max_value_size")
	errUnexpected      = errors.New("kvline: reply to a request walnut does not forward")
)

// ParseResponse implements protocols.Codec. Each command's reply is
// checked against the forms that command may take, so that a backend
// out of step is caught at once rather than its replies given to the
// wrong requests.
func (c *Codec) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	end, err := c.respLine(buf, 0)
	if end == 0 {
		return 0, err
	}
	l := buf[:end-2]
	if isError(l) {
		return end, nil
	}
	ok := false
	switch Command(req.Cmd) {
	case CmdGet:
		ok = isValue(l)
	case CmdSet:
		ok = string(l) == "OK"
	case CmdDel, CmdSize:
		_, ok = count(l)
	case CmdMget:
		return c.valuesLen(buf, end, len(req.Keys))
	default:
		return 0, errUnexpected
	}
	if !ok {
		return 0, errBadResponse
	}
	return end, nil
}

// valuesLen frames an MGET reply whose header line ends at end: "VALUES
// n", then n lines. A part carries at most every key of the request, so
// a backend announcing more is out of step.
func (c *Codec) valuesLen(buf []byte, end, keys int) (int, error) {
	n, ok := header(buf[:end-2])
	if !ok || n > uint64(keys) {
		return 0, errBadResponse
	}
	pos := end
	for range n {
		e, err := c.respLine(buf, pos)
		if e == 0 {
			return 0, err
		}
		if !isValue(buf[pos : e-2]) {
			return 0, errBadResponse
		}
		pos = e
	}
	return pos, nil
}

// respLine returns the end of the CRLF-ended line at buf[pos:], 0 if it
// has not all arrived, or an error. Lines are bounded, lest a backend
// that never sends LF make walnut buffer without end: a VALUE line by
// the pool's max_value_size, any line by maxRespLine.
func (c *Codec) respLine(buf []byte, pos int) (int, error) {
	window := buf[pos:min(len(buf), pos+c.maxRespLine+2)]
	nl := bytes.IndexByte(window, '\n')
	// A value is refused as soon as it is too long, whether its line has
	// all arrived or not, so that every prefix of a reply gets the same
	// verdict. A CR at the end may be the line's own.
	line := window
	if nl >= 0 {
		line = window[:nl]
	}
	if bytes.HasPrefix(line, valuePrefix) && len(bytes.TrimSuffix(line, []byte("\r")))-len(valuePrefix) > c.maxValue {
		return 0, errValueTooLarge
	}
	if nl < 0 {
		if len(window) == c.maxRespLine+2 {
			return 0, errRespLineTooLong
		}
		return 0, nil
	}
	if nl == 0 || window[nl-1] != '\r' {
		return 0, errBadResponse
	}
	return pos + nl + 1, nil
}

// isValue reports whether l (without CRLF) answers one key: "VALUE v",
// v possibly empty, or "NONE".
func isValue(l []byte) bool {
	return bytes.HasPrefix(l, valuePrefix) || string(l) == "NONE"
}

var valuePrefix = []byte("VALUE ")

// isError reports whether l is an ERROR line, which may answer any
// request.
func isError(l []byte) bool {
	return bytes.HasPrefix(l, []byte("ERROR")) && (len(l) == 5 || l[5] == ' ')
}

// count parses "COUNT n".
func count(l []byte) (uint64, bool) {
	if !bytes.HasPrefix(l, []byte("COUNT ")) {
		return 0, false
	}
	return digits(l[len("COUNT "):])
}

// header parses "VALUES n".
func header(l []byte) (uint64, bool) {
	if !bytes.HasPrefix(l, []byte("VALUES ")) {
		return 0, false
	}
	return digits(l[len("VALUES "):])
}

// digits parses a decimal of 1 to 18 digits: more cannot be a count of
// keys, and fewer digits cannot overflow.
func digits(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for _, b := range s {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + uint64(b-'0')
	}
	return n, true
}
