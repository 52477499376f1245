package memcached

import (
	"bytes"
	"errors"

	"github.com/walnutproxy/walnut/protocols"
)

// Response errors. A server that sends one is not speaking memcached's
// protocol, or not in step with walnut, so the core drops the connection
// and fails the requests waiting on it.
var (
	errBadResponse      = errors.New("memcached: malformed response from server")
	errRespTooLarge     = errors.New("memcached: response value larger than the pool's max value size")
	errRespLineTooLong  = errors.New("memcached: response line too long")
	errUnknownRespOwner = errors.New("memcached: response to a request walnut did not forward")
)

// ParseResponse implements protocols.Codec. Each command's response is
// checked against the forms that command may take, so that a server out
// of step with walnut is caught at once rather than misattributed.
func (c *Codec) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	switch req.Cmd {
	case cmdGet, cmdGets, cmdGat, cmdGats:
		return c.valuesLen(buf)
	case cmdMg, cmdMs, cmdMd, cmdMa:
		return c.metaLen(buf)
	}
	end, err := respLine(buf, 0)
	if end == 0 {
		return 0, err
	}
	l := buf[: end-2 : end-2]
	if isErrorLine(l) {
		return end, nil
	}
	var ok bool
	switch req.Cmd {
	case cmdSet, cmdAdd, cmdReplace, cmdAppend, cmdPrepend, cmdCas:
		switch string(l) {
		case "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND":
			ok = true
		}
	case cmdIncr, cmdDecr:
		ok = string(l) == "NOT_FOUND" || isNumberLine(l)
	case cmdDelete:
		ok = string(l) == "DELETED" || string(l) == "NOT_FOUND"
	case cmdTouch:
		ok = string(l) == "TOUCHED" || string(l) == "NOT_FOUND"
	case cmdVersion:
		ok = bytes.HasPrefix(l, []byte("VERSION "))
	default:
		return 0, errUnknownRespOwner
	}
	if !ok {
		return 0, errBadResponse
	}
	return end, nil
}

// respLine returns the end of the CRLF-terminated line at buf[pos:], 0 if
// it has not all arrived, or an error. Lines are bounded, lest a server
// that never sends a newline make the core buffer without end.
func respLine(buf []byte, pos int) (int, error) {
	nl := indexNL(buf, pos, pos+maxRespLine+2)
	if nl < 0 {
		// What has arrived may end with the CR of the CRLF.
		if len(buf)-pos > maxRespLine+1 {
			return 0, errRespLineTooLong
		}
		return 0, nil
	}
	if nl == pos || buf[nl-1] != '\r' {
		return 0, errBadResponse
	}
	return nl + 1, nil
}

// isErrorLine reports whether l (without its CRLF) is one of the error
// lines that may answer any command and end any response.
func isErrorLine(l []byte) bool {
	switch {
	case bytes.HasPrefix(l, []byte("ERROR")):
		return len(l) == 5 || l[5] == ' '
	case bytes.HasPrefix(l, []byte("SERVER_ERROR")), bytes.HasPrefix(l, []byte("CLIENT_ERROR")):
		return len(l) == 12 || l[12] == ' '
	}
	return false
}

// isNumberLine checks incr's answer: the new value, which memcached may
// pad with spaces when it shrinks.
func isNumberLine(l []byte) bool {
	l = bytes.TrimRight(l, " ")
	_, ok := digits(l)
	return ok
}

// valuesLen frames a retrieval response: "VALUE <key> <flags> <bytes>
// [<cas>]" lines, each with its data block, up to "END", or an error line.
func (c *Codec) valuesLen(buf []byte) (int, error) {
	pos := 0
	for {
		end, err := respLine(buf, pos)
		if end == 0 {
			return 0, err
		}
		l := buf[pos : end-2]
		if !bytes.HasPrefix(l, []byte("VALUE ")) {
			if string(l) == "END" || isErrorLine(l) {
				return end, nil
			}
			return 0, errBadResponse
		}
		_, _, size, ok := valueLine(l)
		switch {
		case !ok:
			return 0, errBadResponse
		case size > uint64(c.maxRespValue):
			return 0, errRespTooLarge
		}
		if pos, err = dataBlock(buf, end, int(size)); pos == 0 {
			return 0, err
		}
	}
}

// valueLine parses a VALUE line (without its CRLF): the bounds of its key
// and its data size. It runs once per value when framing and again when
// merging, so it walks the line once rather than splitting it.
func valueLine(l []byte) (ks, ke int, size uint64, ok bool) {
	ks, ke = token(l, len("VALUE "))
	fs, fe := token(l, ke)
	bs, be := token(l, fe)
	cs, ce := token(l, be)
	if ks == ke || bs == be {
		return 0, 0, 0, false
	}
	if flags, ok := digits(l[fs:fe]); !ok || flags > 1<<32-1 {
		return 0, 0, 0, false
	}
	if cs != ce {
		if _, ok := digits(l[cs:ce]); !ok {
			return 0, 0, 0, false
		}
		if s, e := token(l, ce); s != e {
			return 0, 0, 0, false
		}
	}
	size, ok = digits(l[bs:be])
	return ks, ke, size, ok
}

// dataBlock returns the end of the size-byte data block starting at start
// and its CRLF, 0 if it has not all arrived, or an error.
func dataBlock(buf []byte, start, size int) (int, error) {
	end := start + size + 2
	if end > len(buf) {
		if end-2 < len(buf) && buf[end-2] != '\r' {
			return 0, errBadResponse
		}
		return 0, nil
	}
	if buf[end-2] != '\r' || buf[end-1] != '\n' {
		return 0, errBadResponse
	}
	return end, nil
}

// metaLen frames a meta response: a line starting with a two-letter code,
// and a data block after "VA <size>". Other codes are taken as they come,
// so that a newer server's additions pass through.
func (c *Codec) metaLen(buf []byte) (int, error) {
	end, err := respLine(buf, 0)
	if end == 0 {
		return 0, err
	}
	l := buf[:end-2]
	if isErrorLine(l) {
		return end, nil
	}
	if len(l) < 2 || !isUpper(l[0]) || !isUpper(l[1]) || (len(l) > 2 && l[2] != ' ') {
		return 0, errBadResponse
	}
	if l[0] != 'V' || l[1] != 'A' {
		return end, nil
	}
	s, e := token(l, 2)
	v, ok := digits(l[s:e])
	switch {
	case !ok:
		return 0, errBadResponse
	case v > uint64(c.maxRespValue):
		return 0, errRespTooLarge
	}
	return dataBlock(buf, end, int(v))
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }
