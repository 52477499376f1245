package redisserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// InstallHint is what a caller reports when redis-server is missing: the
// tests that need it fail rather than skip, so that a CI machine without
// it cannot pass silently.
const InstallHint = "redis-server is not installed (needed to check the codec against the real server): apt-get install -y redis-server"

// Server is a running redis-server child process.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	out  bytes.Buffer
	done chan struct{}
}

// Start runs the redis-server found at path ("" looks it up on PATH)
// on a free loopback port, without persistence, and waits until it
// answers PING.
func Start(path string) (*Server, error) {
	if path == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, errors.New(InstallHint)
		}
		path = p
	}
	var lastErr error
	// The free port is found by binding and releasing it, so another
	// process may grab it in between: a few attempts make that harmless.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(path)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(path string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "walnut-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(path,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	s.cmd.Stdout = &s.out
	s.cmd.Stderr = &s.out
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := Dial(s.Addr)
		if err == nil {
			v, err := c.Do("PING")
			c.Close()
			if err == nil && v == "PONG" {
				return s, nil
			}
		}
		select {
		case <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server exited early: %s", strings.TrimSpace(s.out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("redis-server did not answer on %s within 10s", s.Addr)
		}
	}
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return os.RemoveAll(s.dir)
}

// Conn is a blocking RESP2 client connection.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// Error is an error reply from the server.
type Error string

func (e Error) Error() string { return string(e) }

// Dial connects to addr.
func Dial(addr string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Do sends one command and reads its reply: a string (simple or bulk),
// an int64, a []any, nil, or an Error value (not returned as err, so a
// caller can compare error texts).
func (c *Conn) Do(args ...string) (any, error) {
	var b []byte
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
	return c.DoRaw(b)
}

// DoRaw sends raw bytes and reads one reply.
func (c *Conn) DoRaw(b []byte) (any, error) {
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		return nil, err
	}
	return c.Read()
}

// Read reads one reply.
func (c *Conn) Read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		// A bulk string or an array: its length, or -1 for nil.
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if line[0] == '$' {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				return nil, err
			}
			return string(buf[:n]), nil
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = c.Read(); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("unexpected reply type %q", line[0])
}
