package mover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/walnutproxy/walnut/internal/bufconn"
)

// value is a RESP2 reply: t is '+', '-', ':', '$' or '*'.
type value struct {
	t    byte
	s    []byte // simple string, error text or bulk
	n    int64  // integer; length of an array
	a    []value
	null bool // a nil bulk or array
}

func (v value) isErr() bool { return v.t == '-' }

func (v value) Error() string { return string(v.s) }

// redisConn is a minimal pipelining Redis client on the movers'
// buffered connection: commands are written to its buffer by send and go
// out with Flush; replies are read in order.
type redisConn struct{ *bufconn.Conn }

// dialRedis connects to addr, authenticates with password if it is set
// and selects db.
func dialRedis(ctx context.Context, addr, password string, db int, timeout time.Duration) (*redisConn, error) {
	bc, err := bufconn.Dial(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	rc := &redisConn{bc}
	if password != "" {
		if v, err := rc.do("AUTH", password); err != nil {
			rc.Close()
			return nil, err
		} else if v.isErr() {
			rc.Close()
			return nil, fmt.Errorf("%s: AUTH: %s", addr, v.s)
		}
	}
	if db != 0 {
		if v, err := rc.do("SELECT", strconv.Itoa(db)); err != nil {
			rc.Close()
			return nil, err
		} else if v.isErr() {
			rc.Close()
			return nil, fmt.Errorf("%s: SELECT %d: %s", addr, db, v.s)
		}
	}
	return rc, nil
}

// send buffers one command; its arguments are strings, []byte or ints.
func (rc *redisConn) send(args ...any) {
	w := rc.W
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		var b []byte
		switch x := a.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		case int:
			b = strconv.AppendInt(nil, int64(x), 10)
		case int64:
			b = strconv.AppendInt(nil, x, 10)
		default:
			panic(fmt.Sprintf("redis mover: argument of type %T", a))
		}
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(b)))
		w.WriteString("\r\n")
		w.Write(b)
		w.WriteString("\r\n")
	}
}

// read reads the next reply. An error reply is a value, not an error:
// the error is for a connection that cannot be used any more.
func (rc *redisConn) read() (value, error) {
	v, err := readValue(rc.Reader())
	if err != nil {
		return v, fmt.Errorf("%s: %w", rc.Addr, err)
	}
	return v, nil
}

// do sends one command and reads its reply.
func (rc *redisConn) do(args ...any) (value, error) {
	rc.send(args...)
	if err := rc.Flush(); err != nil {
		return value{}, err
	}
	return rc.read()
}

// pipeline sends every command of cmds in one write and reads their
// replies.
func (rc *redisConn) pipeline(cmds [][]any) ([]value, error) {
	for _, c := range cmds {
		rc.send(c...)
	}
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	out := make([]value, len(cmds))
	for i := range cmds {
		v, err := rc.read()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

var errProtocol = errors.New("malformed reply")

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A long simple string or error: gather it.
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

// maxBulk is Redis' own bound on a bulk string (proto-max-bulk-len).
const maxBulk = 512 << 20

func readValue(r *bufio.Reader) (value, error) {
	line, err := readLine(r)
	if err != nil {
		return value{}, err
	}
	if len(line) == 0 {
		return value{}, errProtocol
	}
	v := value{t: line[0]}
	switch v.t {
	case '+', '-':
		v.s = append([]byte(nil), line[1:]...)
	case ':':
		v.n, err = strconv.ParseInt(string(line[1:]), 10, 64)
	case '$', '*':
		// A bulk string or an array: its length, or -1 for nil.
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return v, errProtocol
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		if v.t == '$' {
			return readBulk(r, v, n)
		}
		return readArray(r, v, n)
	default:
		return v, errProtocol
	}
	return v, err
}

// readBulk reads the n bytes of the bulk string v and their CRLF.
func readBulk(r *bufio.Reader, v value, n int) (value, error) {
	if n > maxBulk {
		return v, errProtocol
	}
	// Read as the bytes come rather than allocating what the header
	// claims: a broken server must not make the mover allocate it.
	var err error
	v.s, err = io.ReadAll(io.LimitReader(r, int64(n)+2))
	if err != nil {
		return v, err
	}
	if len(v.s) < n+2 {
		return v, io.ErrUnexpectedEOF
	}
	if v.s[n] != '\r' || v.s[n+1] != '\n' {
		return v, errProtocol
	}
	v.s = v.s[:n]
	return v, nil
}

// readArray reads the n elements of the array v.
func readArray(r *bufio.Reader, v value, n int) (value, error) {
	v.n = int64(n)
	// Grown as elements arrive, for the same reason as a bulk string.
	v.a = make([]value, 0, min(n, 1024))
	for range n {
		e, err := readValue(r)
		if err != nil {
			return v, err
		}
		v.a = append(v.a, e)
	}
	return v, nil
}
