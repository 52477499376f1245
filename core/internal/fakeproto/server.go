package fakeproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits that keep a misbehaving test from exhausting the machine.
const (
	maxConns   = 64      // connections at once; more are closed at once
	maxLine    = 8 << 20 // bytes in one request
	maxQueue   = 4096    // requests read ahead of their answers, per connection
	maxLog     = 100000  // entries kept by the log
	maxSleepMS = 10000
)

// Server is a backend that speaks the protocol, on a free 127.0.0.1
// port, with a goroutine reading and one answering each connection.
// Reading ahead of the answers is what lets a test count what the proxy
// has sent while the server holds its answers back. Its hooks are safe
// for concurrent use.
type Server struct {
	name string
	addr string

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	nextConn int
	data     map[int]map[string]string // by connection state
	delay    time.Duration
	override []string      // replies that replace the next ones
	gate     chan struct{} // while not nil, answers wait for it to close
	hello    string        // the greeting token required; "" takes any
	maxState int
	log      []Record

	wg       sync.WaitGroup
	received atomic.Int64
	byCmd    sync.Map // command name -> *atomic.Int64
}

// Record is one request as the server read it.
type Record struct {
	Conn int // the connection, numbered from 1 in the order accepted
	Line string
}

type conn struct {
	id    int
	nc    net.Conn
	wmu   sync.Mutex // the answering goroutine, Push and PUB all write
	w     *bufio.Writer
	state int
	mode  int
	subs  map[string]bool // channels subscribed to, under Server.mu
}

// key is where the connection's values are kept: by mode and state.
func (c *conn) key() int { return c.mode*1000 + c.state }

// NewServer starts a server that calls itself name (WHO's answer).
func NewServer(name string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{name: name, addr: ln.Addr().String(), data: map[int]map[string]string{}, maxState: 99}
	s.serve(ln)
	return s, nil
}

// Addr is the server's address, the same across Stop and Start.
func (s *Server) Addr() string { return s.addr }

// Name is what the server answers WHO with.
func (s *Server) Name() string { return s.name }

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln, s.conns = ln, map[*conn]struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				// Stopped between Accept and here.
				s.mu.Unlock()
				nc.Close()
				return
			}
			if len(s.conns) >= maxConns {
				s.mu.Unlock()
				nc.Close()
				continue
			}
			s.nextConn++
			c := &conn{id: s.nextConn, nc: nc, w: bufio.NewWriterSize(nc, 64<<10)}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(2)
			lines := make(chan []byte, maxQueue)
			done, gone := make(chan struct{}), make(chan struct{})
			go s.read(c, lines, done, gone)
			go s.answer(c, lines, done, gone)
		}
	}()
}

// Stop closes the listener and every connection, as a server that died:
// dialing it is refused until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln == nil {
		s.mu.Unlock()
		return
	}
	ln, conns := s.ln, s.conns
	s.ln, s.conns = nil, nil
	s.mu.Unlock()
	ln.Close()
	for c := range conns {
		c.nc.Close()
	}
	s.wg.Wait()
}

// Start listens again on the same address after Stop.
func (s *Server) Start() error {
	s.mu.Lock()
	running := s.ln != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			s.serve(ln)
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// Close stops the server for good.
func (s *Server) Close() { s.Stop() }

// Received counts the requests the server has read, other than the
// connection setup (HELLO, SWITCH, MODE) and health probes (PING).
func (s *Server) Received() int64 { return s.received.Load() }

// Count counts the requests of command name the server has read.
func (s *Server) Count(name string) int64 {
	if v, ok := s.byCmd.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Conns is the number of connections open now.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Log returns the requests read so far, in order per connection.
func (s *Server) Log() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.log...)
}

// SetDelay delays every answer by d.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Override makes the next answers to requests these lines instead
// (without their line end): garbage, or a reply of the wrong type.
func (s *Server) Override(lines ...string) {
	s.mu.Lock()
	s.override = append(s.override, lines...)
	s.mu.Unlock()
}

// Hold keeps every answer back, requests still being read, until
// Release.
func (s *Server) Hold() {
	s.mu.Lock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
	s.mu.Unlock()
}

// Release lets the answers Hold kept back go.
func (s *Server) Release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// RequireHello makes the server refuse a greeting with another token.
func (s *Server) RequireHello(token string) {
	s.mu.Lock()
	s.hello = token
	s.mu.Unlock()
}

// SetMaxState makes the server refuse switches to higher states (99
// by default).
func (s *Server) SetMaxState(n int) {
	s.mu.Lock()
	s.maxState = n
	s.mu.Unlock()
}

// Set stores a value in state 0, as if a client had set it long ago.
func (s *Server) Set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[0] == nil {
		s.data[0] = map[string]string{}
	}
	s.data[0][key] = value
}

// Has reports whether key holds a value in state 0.
func (s *Server) Has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.data[0][key]
	return ok
}

// Push writes line on every open connection, unasked.
func (s *Server) Push(line string) {
	s.push(line, func(*conn) bool { return true })
}

// push writes line on the open connections that want it and returns
// their number.
func (s *Server) push(line string, want func(*conn) bool) int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if want(c) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		c.w.WriteString(line + "\n")
		c.w.Flush()
		c.wmu.Unlock()
	}
	return len(conns)
}

// read reads requests and queues them for answer. It closes gone when
// the connection ends, closed by the peer or by Stop: nobody is left to
// answer, and a sleep or a hold ends.
func (s *Server) read(c *conn, lines chan<- []byte, done <-chan struct{}, gone chan<- struct{}) {
	defer s.wg.Done()
	defer close(gone)
	defer close(lines)
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		l, err := readLine(r)
		if err != nil {
			return
		}
		s.note(c, l)
		select {
		case lines <- l:
		case <-done:
			return
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(chunk) > maxLine {
				return nil, errors.New("line too long")
			}
			long = append(long, chunk...)
			continue
		}
		if err != nil {
			return nil, err
		}
		l := append(long, chunk...)
		l = bytes.TrimSuffix(l[:len(l)-1], []byte{'\r'})
		if long == nil {
			l = bytes.Clone(l)
		}
		return l, nil
	}
}

// note counts and logs a request as it is read.
func (s *Server) note(c *conn, l []byte) {
	name, _, _ := cut(l)
	switch string(name) {
	case "HELLO", "SWITCH", "MODE", "PING":
	default:
		s.received.Add(1)
	}
	v, ok := s.byCmd.Load(string(name))
	if !ok {
		v, _ = s.byCmd.LoadOrStore(string(name), new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
	s.mu.Lock()
	if len(s.log) < maxLog {
		s.log = append(s.log, Record{Conn: c.id, Line: string(l)})
	}
	s.mu.Unlock()
}

// answer answers the requests in order, flushing when none is waiting.
func (s *Server) answer(c *conn, lines <-chan []byte, done chan<- struct{}, gone <-chan struct{}) {
	defer s.wg.Done()
	defer close(done)
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for l := range lines {
		reply, ok := s.reply(c, l, gone)
		if !ok {
			// What was answered before goes out first.
			c.wmu.Lock()
			c.w.Flush()
			c.wmu.Unlock()
			return
		}
		c.wmu.Lock()
		c.w.WriteString(reply)
		c.w.WriteByte('\n')
		var err error
		if len(lines) == 0 {
			err = c.w.Flush()
		}
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// wait waits d, or less if the connection ends; it reports whether the
// whole of d passed.
func wait(d time.Duration, gone <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-gone:
		return false
	}
}

// reply computes the answer to l, after the hold and delay; false means
// close the connection instead.
func (s *Server) reply(c *conn, l []byte, gone <-chan struct{}) (string, bool) {
	name, rest, _ := cut(l)
	var args []string
	if len(rest) > 0 {
		for _, a := range bytes.Split(rest, []byte{' '}) {
			args = append(args, string(a))
		}
	}
	switch string(name) {
	case "HELLO":
		s.mu.Lock()
		want := s.hello
		s.mu.Unlock()
		if want != "" && (len(args) != 1 || args[0] != want) {
			return "ERR bad hello token", true
		}
		return "OK", true
	case "SWITCH":
		n, err := strconv.Atoi(string(rest))
		s.mu.Lock()
		max := s.maxState
		s.mu.Unlock()
		if err != nil || n < 0 || n > max {
			return "ERR no such state", true
		}
		c.state = n
		return "OK", true
	case "MODE":
		// Two modes, 0 and 1, as Redis has two protocol versions.
		n, err := strconv.Atoi(string(rest))
		if err != nil || n < 0 || n > 1 {
			return "ERR no such mode", true
		}
		c.mode = n
		return "OK", true
	case "PING":
		return "PONG", true
	}

	s.mu.Lock()
	gate, delay := s.gate, s.delay
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-gone:
			return "", false
		}
	}
	if !wait(delay, gone) {
		return "", false
	}
	s.mu.Lock()
	if len(s.override) > 0 {
		r := s.override[0]
		s.override = s.override[1:]
		s.mu.Unlock()
		return r, true
	}
	s.mu.Unlock()

	switch string(name) {
	case "GET":
		if len(args) == 1 {
			s.mu.Lock()
			v, ok := s.data[c.key()][args[0]]
			s.mu.Unlock()
			if ok {
				return "VAL " + v, true
			}
			return "NIL", true
		}
	case "SET":
		if len(args) == 2 {
			s.mu.Lock()
			m := s.data[c.key()]
			if m == nil {
				m = map[string]string{}
				s.data[c.key()] = m
			}
			m[args[0]] = args[1]
			s.mu.Unlock()
			return "OK", true
		}
	case "ECHO":
		if len(args) == 2 {
			return "VAL " + args[1], true
		}
	case "JOIN":
		return "VAL " + strings.Join(args, "+"), true
	case "UNPIN":
		return "OK", true
	case "SUB", "UNSUB":
		s.mu.Lock()
		if name[0] == 'U' || c.subs == nil {
			c.subs = map[string]bool{}
		}
		for _, ch := range args {
			c.subs[ch] = true
		}
		n := len(c.subs)
		s.mu.Unlock()
		return "SUBD " + strconv.Itoa(n), true
	case "PUB":
		if len(args) == 2 {
			n := s.push("MSG "+args[0]+" "+args[1], func(c *conn) bool { return c.subs[args[0]] })
			return "INT " + strconv.Itoa(n), true
		}
	case "MGET":
		out := []byte("VALS")
		s.mu.Lock()
		for _, k := range args {
			if v, ok := s.data[c.key()][k]; ok {
				out = append(append(out, " +"...), v...)
			} else {
				out = append(out, " -"...)
			}
		}
		s.mu.Unlock()
		return string(out), true
	case "DEL":
		n := 0
		s.mu.Lock()
		for _, k := range args {
			if _, ok := s.data[c.key()][k]; ok {
				delete(s.data[c.key()], k)
				n++
			}
		}
		s.mu.Unlock()
		return "INT " + strconv.Itoa(n), true
	case "COUNT":
		s.mu.Lock()
		n := len(s.data[c.key()])
		s.mu.Unlock()
		return "INT " + strconv.Itoa(n), true
	case "WHO":
		return "ID " + s.name, true
	case "SLEEP", "BLOCK":
		if len(args) == 2 {
			ms, err := strconv.Atoi(args[1])
			if err != nil || ms < 0 || ms > maxSleepMS {
				return "ERR bad sleep", true
			}
			if !wait(time.Duration(ms)*time.Millisecond, gone) {
				return "", false
			}
			return "OK", true
		}
	case "CRASH":
		return "", false
	default:
		return fmt.Sprintf("ERR unknown command %q", name), true
	}
	return "ERR wrong number of arguments", true
}
