// Package bufconn is the buffered connection the protocols' movers for
// walnut reshard talk to a server through: each mover puts its own
// protocol's client on top of it (protocols/redis/internal/mover,
// protocols/memcached/internal/mover).
package bufconn

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// bufSize is the size of the read and the write buffer.
const bufSize = 64 << 10

// Conn is a buffered connection to one server whose every read and
// write has a deadline. What is written to W goes out with Flush; a
// reply is read from Reader.
type Conn struct {
	Addr string        // the address dialled, to name the server in errors
	W    *bufio.Writer // the write buffer

	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr, a unix socket path or host:port; timeout
// bounds the dial and then every read and write.
func Dial(ctx context.Context, addr string, timeout time.Duration) (*Conn, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &Conn{Addr: addr, W: bufio.NewWriterSize(c, bufSize), c: c, r: bufio.NewReaderSize(c, bufSize), timeout: timeout}, nil
}

// Close closes the connection.
func (bc *Conn) Close() { bc.c.Close() }

// Flush writes what was buffered; the error names the server.
func (bc *Conn) Flush() error {
	bc.c.SetDeadline(time.Now().Add(bc.timeout))
	if err := bc.W.Flush(); err != nil {
		return fmt.Errorf("%s: %w", bc.Addr, err)
	}
	return nil
}

// Reader returns the read buffer with the read deadline set anew: call
// it for each reply.
func (bc *Conn) Reader() *bufio.Reader {
	bc.c.SetReadDeadline(time.Now().Add(bc.timeout))
	return bc.r
}
