package mover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
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

// redisConn is a minimal pipelining Redis client: commands are written
// to a buffer by send and go out with flush; replies are read in order.
type redisConn struct{ *bufConn }

// bufConn is a buffered connection to one server whose every read and
// write has a deadline. The memcached mover has the same one: each
// protocol's mover stands alone, as its codec does.
type bufConn struct {
	addr    string
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
}

// dial connects to addr, a unix socket path or host:port.
func dial(ctx context.Context, addr string, timeout time.Duration) (*bufConn, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10), timeout: timeout}, nil
}

func (bc *bufConn) close() { bc.c.Close() }

// flush writes what was buffered.
func (bc *bufConn) flush() error {
	bc.c.SetDeadline(time.Now().Add(bc.timeout))
	if err := bc.w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", bc.addr, err)
	}
	return nil
}

// dialRedis connects to addr, authenticates with password if it is set
// and selects db.
func dialRedis(ctx context.Context, addr, password string, db int, timeout time.Duration) (*redisConn, error) {
	bc, err := dial(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	rc := &redisConn{bc}
	if password != "" {
		if v, err := rc.do("AUTH", password); err != nil {
			rc.close()
			return nil, err
		} else if v.isErr() {
			rc.close()
			return nil, fmt.Errorf("%s: AUTH: %s", addr, v.s)
		}
	}
	if db != 0 {
		if v, err := rc.do("SELECT", strconv.Itoa(db)); err != nil {
			rc.close()
			return nil, err
		} else if v.isErr() {
			rc.close()
			return nil, fmt.Errorf("%s: SELECT %d: %s", addr, db, v.s)
		}
	}
	return rc, nil
}

// send buffers one command; its arguments are strings, []byte or ints.
func (rc *redisConn) send(args ...any) {
	w := rc.w
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
	rc.c.SetReadDeadline(time.Now().Add(rc.timeout))
	v, err := readValue(rc.r)
	if err != nil {
		return v, fmt.Errorf("%s: %w", rc.addr, err)
	}
	return v, nil
}

// do sends one command and reads its reply.
func (rc *redisConn) do(args ...any) (value, error) {
	rc.send(args...)
	if err := rc.flush(); err != nil {
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
	if err := rc.flush(); err != nil {
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
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return v, errProtocol
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		if n > maxBulk {
			return v, errProtocol
		}
		// Read as the bytes come rather than allocating what the header
		// claims: a broken server must not make the mover allocate it.
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
	case '*':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return v, errProtocol
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		v.n = int64(n)
		// Grown as elements arrive, for the same reason.
		v.a = make([]value, 0, min(n, 1024))
		for range n {
			e, err := readValue(r)
			if err != nil {
				return v, err
			}
			v.a = append(v.a, e)
		}
	default:
		return v, errProtocol
	}
	return v, err
}
