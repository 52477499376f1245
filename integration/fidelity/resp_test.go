package fidelity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// value is one reply as it came, RESP2 or RESP3: go-redis would turn a
// status into a string and an integer into whatever was asked for, and
// the harness must see the difference.
type value struct {
	// kind is the type byte: + - : $ * and RESP3's _ , # ( = ! % ~ > |.
	kind byte
	// str is the text of a scalar (a bulk string's bytes, an error's
	// message without the '-').
	str string
	// null: $-1 or *-1 (RESP3's null is kind '_').
	null bool
	// elems of an array, set or push; a map's keys and values alternate.
	elems []value
	// attr is an attribute ('|') that came ahead of the value.
	attr *value
}

func (v value) isError() bool { return v.kind == '-' || v.kind == '!' }

// String renders v on one line, keeping its type visible: +OK, -ERR x,
// :1, "bulk", [a, b], {k: v}. Two values render alike only if they are
// alike, so comparing renderings compares types, values and error texts.
func (v value) String() string {
	var b strings.Builder
	v.render(&b)
	return b.String()
}

func (v value) render(b *strings.Builder) {
	if v.attr != nil {
		b.WriteString("|")
		v.attr.render(b)
		b.WriteString(" ")
	}
	switch v.kind {
	case '$':
		if v.null {
			b.WriteString("$nil")
			return
		}
		b.WriteString(strconv.Quote(v.str))
	case '*', '~', '>', '%':
		if v.null {
			b.WriteString("*nil")
			return
		}
		open, sep, end := "[", ", ", "]"
		switch v.kind {
		case '~':
			open = "~["
		case '>':
			open = ">["
		case '%':
			open, end = "{", "}"
		}
		b.WriteString(open)
		for i, e := range v.elems {
			if i > 0 {
				if v.kind == '%' && i%2 == 1 {
					b.WriteString(": ")
				} else {
					b.WriteString(sep)
				}
			}
			e.render(b)
		}
		b.WriteString(end)
	case '_':
		b.WriteString("_")
	case '=', '!':
		b.WriteByte(v.kind)
		b.WriteString(strconv.Quote(v.str))
	default:
		b.WriteByte(v.kind)
		b.WriteString(v.str)
	}
}

// errProtocol is a reply the reader cannot frame.
var errProtocol = errors.New("malformed reply")

// readValue reads one reply.
func readValue(r *bufio.Reader) (value, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return value{}, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return value{}, fmt.Errorf("%w: line %q", errProtocol, line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+', '-', ':', ',', '#', '(':
		return value{kind: kind, str: body}, nil
	case '_':
		return value{kind: kind}, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil {
			return value{}, fmt.Errorf("%w: length %q", errProtocol, body)
		}
		if n < 0 {
			return value{kind: kind, null: true}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return value{}, err
		}
		return value{kind: kind, str: string(buf[:n])}, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			return value{}, fmt.Errorf("%w: length %q", errProtocol, body)
		}
		if n < 0 {
			return value{kind: kind, null: true}, nil
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		v := value{kind: kind, elems: make([]value, n)}
		if kind == '|' {
			v.kind = '%'
		}
		for i := range v.elems {
			if v.elems[i], err = readValue(r); err != nil {
				return value{}, err
			}
		}
		if kind == '|' {
			next, err := readValue(r)
			next.attr = &v
			return next, err
		}
		return v, nil
	}
	return value{}, fmt.Errorf("%w: type %q", errProtocol, kind)
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// conn is a plain RESP connection.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &conn{c: c, r: bufio.NewReader(c)}, nil
}

func (c *conn) Close() error { return c.c.Close() }

func (c *conn) send(cmds ...[]string) error {
	var b []byte
	for _, a := range cmds {
		b = appendCommand(b, a)
	}
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.c.Write(b)
	return err
}

// read reads one reply, waiting until deadline at most.
func (c *conn) read(deadline time.Time) (value, error) {
	c.c.SetReadDeadline(deadline)
	return readValue(c.r)
}

// do sends cmds in one write and reads a reply to each; an error reply
// is returned as a value, only I/O and framing fail.
func (c *conn) do(timeout time.Duration, cmds ...[]string) ([]value, error) {
	if err := c.send(cmds...); err != nil {
		return nil, err
	}
	out := make([]value, 0, len(cmds))
	deadline := time.Now().Add(timeout)
	for _, a := range cmds {
		v, err := c.read(deadline)
		if err != nil {
			return out, fmt.Errorf("%s: %w", strings.Join(a, " "), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// doOK is do for setup: every reply must be a success.
func (c *conn) doOK(timeout time.Duration, cmds ...[]string) error {
	vs, err := c.do(timeout, cmds...)
	if err != nil {
		return err
	}
	for i, v := range vs {
		if v.isError() {
			return fmt.Errorf("%s: %s", strings.Join(cmds[i], " "), v)
		}
	}
	return nil
}

// isTimeout reports whether err is a read that hit its deadline.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// sortValues sorts vs by rendering, for replies whose order Redis leaves
// open.
func sortValues(vs []value) []value {
	out := slices.Clone(vs)
	slices.SortFunc(out, func(a, b value) int { return strings.Compare(a.String(), b.String()) })
	return out
}
