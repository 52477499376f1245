package redis

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

const (
	// inlineMax is Redis' PROTO_INLINE_MAX_SIZE: the longest inline
	// command line.
	inlineMax = 64 << 10
	// maxArgs bounds a multibulk's element count, so that a client cannot
	// make walnut hold an argument table of its choosing.
	maxArgs = 1 << 20
	// defaultMaxBulk is Redis' default proto-max-bulk-len, used when the
	// pool sets no size limit.
	defaultMaxBulk = 512 << 20
	// maxDigits bounds the number after a '*' or '$': every limit above
	// has fewer digits, so a longer number is rejected without waiting
	// for a CR that may never come, and cannot overflow.
	maxDigits = 18
)

// Parse errors, built once so that rejecting bad input does not allocate.
// The texts are Redis' own where Redis has one.
var (
	errMultibulkLen = &protocols.ProtocolError{Msg: "invalid multibulk length"}
	errBulkLen      = &protocols.ProtocolError{Msg: "invalid bulk length"}
	errBulkCRLF     = &protocols.ProtocolError{Msg: "bulk string not followed by CRLF"}
	errInlineTooBig = &protocols.ProtocolError{Msg: "too big inline request"}
	errUnbalanced   = &protocols.ProtocolError{Msg: "unbalanced quotes in request"}
	errInlineQuotes = &protocols.ProtocolError{Msg: "walnut does not support backslash escapes or quotes inside an argument in inline commands: send the command as RESP"}
	errExpected     = func() (e [256]*protocols.ProtocolError) {
		for i := range e {
			e[i] = &protocols.ProtocolError{Msg: "expected '$', got '" + string([]byte{byte(i)}) + "'"}
		}
		return e
	}()
)

// header results.
const (
	hdrOK = iota
	hdrMore
	hdrBad
)

// parseHeader reads the decimal number that starts at buf[pos] and ends
// with CRLF, as Redis' string2ll accepts it (optional '-', no leading
// zeros). It returns the number, the position after the CRLF and hdrOK,
// or hdrMore when buf stops before the CRLF, or hdrBad. A stray byte or
// too many digits is hdrBad without waiting for the CR, and a prefix is
// never hdrBad unless the whole header is.
func parseHeader(buf []byte, pos int) (int64, int, int) {
	// Fast path: most lengths have one or two digits.
	if pos+3 < len(buf) {
		c0, c1 := buf[pos], buf[pos+1]
		if '0' <= c0 && c0 <= '9' {
			if c1 == '\r' && buf[pos+2] == '\n' {
				return int64(c0 - '0'), pos + 3, hdrOK
			}
			if c0 != '0' && '0' <= c1 && c1 <= '9' && buf[pos+2] == '\r' && buf[pos+3] == '\n' {
				return int64(c0-'0')*10 + int64(c1-'0'), pos + 4, hdrOK
			}
		}
	}
	i := pos
	neg := false
	if i < len(buf) && buf[i] == '-' {
		neg = true
		i++
	}
	start := i
	var v int64
	for ; i < len(buf); i++ {
		c := buf[i]
		if c < '0' || c > '9' {
			break
		}
		if i-start >= maxDigits {
			return 0, 0, hdrBad
		}
		v = v*10 + int64(c-'0')
	}
	if i == len(buf) {
		return 0, 0, hdrMore
	}
	digits := i - start
	if buf[i] != '\r' || digits == 0 || (buf[start] == '0' && (digits > 1 || neg)) {
		return 0, 0, hdrBad
	}
	if i+1 == len(buf) {
		return 0, 0, hdrMore
	}
	if buf[i+1] != '\n' {
		return 0, 0, hdrBad
	}
	if neg {
		v = -v
	}
	return v, i + 2, hdrOK
}

// parseMultibulk parses a RESP array of bulk strings, appending the
// arguments to args (which it returns even on failure, so that its
// capacity is kept for the next request).
func (c *Codec) parseMultibulk(buf []byte, args [][]byte) ([][]byte, int, error) {
	count, pos, st := parseHeader(buf, 1)
	switch {
	case st == hdrMore:
		return args, 0, nil
	case st == hdrBad, count > maxArgs:
		return args, 0, errMultibulkLen
	case count <= 0:
		// "*0", "*-1", "*-10" are skipped by Redis without a reply.
		return args, pos, nil
	}
	for ; count > 0; count-- {
		if pos >= len(buf) {
			return args, 0, nil
		}
		if buf[pos] != '$' {
			return args, 0, errExpected[buf[pos]]
		}
		l, next, st := parseHeader(buf, pos+1)
		switch {
		case st == hdrMore:
			return args, 0, nil
		case st == hdrBad, l < 0, l > int64(c.maxBulk):
			return args, 0, errBulkLen
		}
		end := next + int(l)
		if c.maxRequest > 0 && end+2 > c.maxRequest {
			return args, 0, protocols.ErrRequestTooLarge
		}
		if end+2 > len(buf) {
			// Check what has arrived of the CRLF already, so that junk is
			// reported as soon as it is seen.
			if end < len(buf) && buf[end] != '\r' {
				return args, 0, errBulkCRLF
			}
			return args, 0, nil
		}
		if buf[end] != '\r' || buf[end+1] != '\n' {
			return args, 0, errBulkCRLF
		}
		args = append(args, buf[next:end:end])
		pos = end + 2
	}
	return args, pos, nil
}

// parseInline parses an inline command: one line of space-separated
// arguments, as typed into telnet. Redis' quoting is honoured as far as
// it needs no copying, since arguments must be slices of buf: an argument
// may be wrapped whole in double or single quotes (to hold spaces or be
// empty), but backslash escapes (\n or \x41 between double quotes, an
// escaped quote between single ones) and quotes inside an argument
// (a"b c") are refused with a protocol error that says to use RESP.
// Unterminated quotes get Redis' "unbalanced quotes" error.
func (c *Codec) parseInline(buf []byte, args [][]byte) ([][]byte, int, error) {
	window := buf
	if len(window) > inlineMax+1 {
		window = window[:inlineMax+1]
	}
	nl := bytes.IndexByte(window, '\n')
	if nl < 0 {
		if len(buf) > inlineMax {
			return args, 0, errInlineTooBig
		}
		return args, 0, nil
	}
	if c.maxRequest > 0 && nl+1 > c.maxRequest {
		return args, 0, protocols.ErrRequestTooLarge
	}
	line := buf[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	// Redis splits the line as a C string: a NUL ends it.
	if z := bytes.IndexByte(line, 0); z >= 0 {
		line = line[:z]
	}
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			break
		}
		switch q := line[p]; q {
		case '"', '\'':
			j := p + 1
			for ; j < len(line); j++ {
				ch := line[j]
				if ch == '\\' && j+1 < len(line) && (q == '"' || line[j+1] == '\'') {
					return args, 0, errInlineQuotes
				}
				if ch == q {
					break
				}
			}
			if j == len(line) || (j+1 < len(line) && !isSpace(line[j+1])) {
				return args, 0, errUnbalanced
			}
			args = append(args, line[p+1:j:j])
			p = j + 1
		default:
			j := p
			for ; j < len(line); j++ {
				ch := line[j]
				if ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' {
					break
				}
				if ch == '"' || ch == '\'' {
					return args, 0, errInlineQuotes
				}
			}
			args = append(args, line[p:j:j])
			p = j
		}
	}
	return args, nl + 1, nil
}

// isSpace is C's isspace, which Redis uses between arguments.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
