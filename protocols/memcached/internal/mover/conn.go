package mover

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/walnutproxy/walnut/internal/bufconn"
)

// mcConn is a minimal memcached client for the meta commands and the
// LRU crawler's key dump, on the movers' buffered connection.
type mcConn struct{ *bufconn.Conn }

// dial connects to addr, a unix socket path or host:port.
func dial(ctx context.Context, addr string, timeout time.Duration) (*mcConn, error) {
	c, err := bufconn.Dial(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	return &mcConn{c}, nil
}

// line reads one response line without its CRLF (or LF alone: the key
// dump ends its lines so).
func (mc *mcConn) line() (string, error) {
	l, err := mc.Reader().ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: %w", mc.Addr, err)
	}
	l = strings.TrimSuffix(l[:len(l)-1], "\r")
	return l, nil
}

// data reads a data block of n bytes and its CRLF.
func (mc *mcConn) data(n int) ([]byte, error) {
	b := make([]byte, n+2)
	if _, err := io.ReadFull(mc.Reader(), b); err != nil {
		return nil, fmt.Errorf("%s: %w", mc.Addr, err)
	}
	if b[n] != '\r' || b[n+1] != '\n' {
		return nil, fmt.Errorf("%s: data block without CRLF", mc.Addr)
	}
	return b[:n], nil
}

// stat returns one value of "stats".
func (mc *mcConn) stat(name string) (string, error) {
	fmt.Fprintf(mc.W, "stats\r\n")
	if err := mc.Flush(); err != nil {
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
