package mover

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// mcConn is a minimal memcached client for the meta commands and the
// LRU crawler's key dump: a buffered connection whose every read and
// write has a deadline. The Redis mover has the same one under its own
// client: each protocol's mover stands alone, as its codec does.
type mcConn struct {
	addr    string
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
}

// dial connects to addr, a unix socket path or host:port.
func dial(ctx context.Context, addr string, timeout time.Duration) (*mcConn, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &mcConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10), timeout: timeout}, nil
}

func (mc *mcConn) close() { mc.c.Close() }

// flush writes what was buffered.
func (mc *mcConn) flush() error {
	mc.c.SetDeadline(time.Now().Add(mc.timeout))
	if err := mc.w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", mc.addr, err)
	}
	return nil
}

// line reads one response line without its CRLF (or LF alone: the key
// dump ends its lines so).
func (mc *mcConn) line() (string, error) {
	mc.c.SetReadDeadline(time.Now().Add(mc.timeout))
	l, err := mc.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: %w", mc.addr, err)
	}
	l = strings.TrimSuffix(l[:len(l)-1], "\r")
	return l, nil
}

// data reads a data block of n bytes and its CRLF.
func (mc *mcConn) data(n int) ([]byte, error) {
	mc.c.SetReadDeadline(time.Now().Add(mc.timeout))
	b := make([]byte, n+2)
	if _, err := io.ReadFull(mc.r, b); err != nil {
		return nil, fmt.Errorf("%s: %w", mc.addr, err)
	}
	if b[n] != '\r' || b[n+1] != '\n' {
		return nil, fmt.Errorf("%s: data block without CRLF", mc.addr)
	}
	return b[:n], nil
}

// stat returns one value of "stats".
func (mc *mcConn) stat(name string) (string, error) {
	fmt.Fprintf(mc.w, "stats\r\n")
	if err := mc.flush(); err != nil {
		return "", err
	}
	val := ""
	for {
		l, err := mc.line()
		if err != nil {
			return "", err
		}
		if l == "END" {
			return val, nil
		}
		var k, v string
		if n, _ := fmt.Sscanf(l, "STAT %s %s", &k, &v); n == 2 && k == name {
			val = v
		}
	}
}

// statInt is stat for a number.
func (mc *mcConn) statInt(name string) (int64, error) {
	s, err := mc.stat(name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}
