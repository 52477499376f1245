package reshard

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// mcConn is a minimal memcached client for the meta commands and the
// LRU crawler's key dump.
type mcConn struct{ *bufConn }

func dialMemcached(ctx context.Context, addr string, timeout time.Duration) (*mcConn, error) {
	bc, err := dial(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	return &mcConn{bc}, nil
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
