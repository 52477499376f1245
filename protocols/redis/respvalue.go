package redis

// value is a server's reply read into a tree, for the few replies walnut
// reads rather than frames (FUNCTION LIST and FUNCTION STATS, whose
// libraries it compares and learns). Not for the hot path: it allocates.
type value struct {
	t    byte   // '+', '-', ':', '$', '*' (or a RESP3 type)
	s    []byte // a line's text or a bulk's bytes
	a    []value
	raw  []byte // the whole value as it came
	null bool
}

// maxValueDepth bounds the nesting parseValue follows: the replies it
// reads nest four deep (a list of libraries, of maps, of functions, of
// flags).
const maxValueDepth = 8

// parseValue reads the RESP value at the start of buf, which ParseResponse
// framed. ok is false for anything it cannot read.
func parseValue(buf []byte) (v value, ok bool) {
	v, n, ok := readValue(buf, 0)
	return v, ok && n == len(buf)
}

func readValue(buf []byte, depth int) (value, int, bool) {
	if len(buf) == 0 || depth > maxValueDepth {
		return value{}, 0, false
	}
	t := buf[0]
	v := value{t: t}
	switch t {
	case '$', '=', '!':
		l, next, st := parseHeader(buf, 1)
		if st != hdrOK {
			return v, 0, false
		}
		if l < 0 {
			v.null = true
			v.raw = buf[:next]
			return v, next, true
		}
		end := next + int(l)
		if end+2 > len(buf) || end < next {
			return v, 0, false
		}
		v.s = buf[next:end]
		v.raw = buf[:end+2]
		return v, end + 2, true
	case '*', '~', '%', '>':
		n, next, st := parseHeader(buf, 1)
		if st != hdrOK {
			return v, 0, false
		}
		if n < 0 {
			v.null = true
			v.raw = buf[:next]
			return v, next, true
		}
		if t == '%' {
			n *= 2
		}
		pos := next
		for range n {
			if pos >= len(buf) {
				return v, 0, false
			}
			e, m, ok := readValue(buf[pos:], depth+1)
			if !ok {
				return v, 0, false
			}
			v.a = append(v.a, e)
			pos += m
		}
		v.raw = buf[:pos]
		return v, pos, true
	case '_':
		if len(buf) < 3 {
			return v, 0, false
		}
		v.null = true
		v.raw = buf[:3]
		return v, 3, true
	default:
		for i := 1; i+1 < len(buf); i++ {
			if buf[i] == '\r' && buf[i+1] == '\n' {
				v.s = buf[1:i]
				v.raw = buf[:i+2]
				return v, i + 2, true
			}
		}
		return v, 0, false
	}
}

// field returns the value under key in a map sent as a flat array of
// keys and values (RESP2's maps), and whether it is there.
func (v *value) field(key string) (*value, bool) {
	for i := 0; i+1 < len(v.a); i += 2 {
		if string(v.a[i].s) == key {
			return &v.a[i+1], true
		}
	}
	return nil, false
}

// str is a simple or bulk string's text.
func (v *value) str() string { return string(v.s) }
