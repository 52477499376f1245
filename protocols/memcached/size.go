package memcached

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.Sizer = (*Codec)(nil)

// RequestSize implements protocols.Sizer: a storage command's line says
// how long its data block is ("set k 0 0 N", "cas k 0 0 N c",
// "ms k N ...").
func (c *Codec) RequestSize(buf []byte) int {
	line, end := firstLine(buf)
	if line == nil {
		return 0
	}
	f := bytes.Fields(line)
	if len(f) < 3 {
		return 0
	}
	var n int
	switch string(f[0]) {
	case "set", "add", "replace", "append", "prepend", "cas":
		if len(f) < 5 {
			return 0
		}
		n = atoi(f[4])
	case "ms":
		n = atoi(f[2])
	default:
		return 0
	}
	if n < 0 {
		return 0
	}
	return end + n + 2
}

// ResponseSize implements protocols.Sizer: a retrieval's reply is a
// series of "VALUE k f N [cas]" (or "VA N ...") lines, each followed by
// its data block; the size is known up to the first block not yet held
// whole.
func (c *Codec) ResponseSize(buf []byte) int {
	pos := 0
	for pos < len(buf) {
		line, end := firstLine(buf[pos:])
		if line == nil {
			return 0
		}
		f := bytes.Fields(line)
		var n int
		switch {
		case len(f) >= 4 && string(f[0]) == "VALUE":
			n = atoi(f[3])
		case len(f) >= 2 && string(f[0]) == "VA":
			n = atoi(f[1])
		default:
			return 0
		}
		if n < 0 {
			return 0
		}
		next := pos + end + n + 2
		if next > len(buf) {
			return next
		}
		pos = next
	}
	return 0
}

// firstLine returns the first line of buf without its CRLF, and where the
// next one starts; nil if buf holds no whole line.
func firstLine(buf []byte) ([]byte, int) {
	nl := bytes.IndexByte(buf, '\n')
	if nl < 0 {
		return nil, 0
	}
	return bytes.TrimSuffix(buf[:nl], []byte{'\r'}), nl + 1
}

// atoi parses a non-negative decimal that fits an int; -1 otherwise.
func atoi(b []byte) int {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
