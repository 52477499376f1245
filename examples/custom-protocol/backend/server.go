package main

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/walnutproxy/walnut/examples/custom-protocol/kvline"
	"github.com/walnutproxy/walnut/protocols"
)

// server is the store and what every connection shares.
type server struct {
	codec *kvline.Codec
	hello string // the name HELLO must give, "" if none is needed

	mu        sync.Mutex
	data      map[string]string
	lastHello string
}

func newServer(hello string) *server {
	// The codec with no limits set bounds a line at 1 MiB, and so
	// what a connection buffers.
	c, err := kvline.New(protocols.Options{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return &server{codec: c, hello: hello, data: map[string]string{}}
}

// serve accepts connections until ln is closed.
func (s *server) serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		go s.handle(conn)
	}
}

// handle serves one connection: every complete request in what was read
// is answered, in order, and the replies written at once, so that a
// pipelining client (walnut) gets them in one write.
func (s *server) handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 16<<10)
	start, end := 0, 0
	var out []byte
	var req protocols.Request
	greeted := s.hello == ""
	for {
		for start < end {
			req.Reset()
			n, err := s.codec.ParseRequest(buf[start:end], &req)
			if err != nil {
				refuse(conn, s.codec.AppendError(out, err))
				return
			}
			if n == 0 {
				break
			}
			start += n
			var quit bool
			out, quit = s.exec(out, &req, &greeted)
			if quit {
				conn.Write(out)
				return
			}
		}
		if len(out) > 0 {
			if _, err := conn.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
		// Room for more: move what is left to the front, and grow for a
		// line longer than the buffer; the codec refuses one over its
		// limit before the buffer passes twice that.
		end = copy(buf, buf[start:end])
		start = 0
		if end == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		n, err := conn.Read(buf[end:])
		if n == 0 && err != nil {
			return
		}
		end += n
	}
}

// refuse writes a connection's last reply and lets the client read it:
// closing a socket with input unread sends a reset, which can destroy
// the reply before the client reads it. So the write side is shut and
// what the client still sends is read and dropped, for a while, first.
func refuse(conn net.Conn, reply []byte) {
	conn.Write(reply)
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(conn, 8<<20))
}

// exec runs one parsed request and appends its reply; quit reports that
// the connection is to close after it.
func (s *server) exec(out []byte, req *protocols.Request, greeted *bool) (_ []byte, quit bool) {
	cmd := kvline.Command(req.Cmd)
	switch cmd {
	case kvline.CmdNone:
		// The codec's own answer: a bad request, read on from.
		return append(out, req.Reply...), false
	case kvline.CmdPing:
		return append(out, "PONG\r\n"...), false
	case kvline.CmdQuit:
		return append(out, "BYE\r\n"...), true
	case kvline.CmdHello:
		name := string(req.Args[0])
		if s.hello != "" && name != s.hello {
			return append(out, "ERROR wrong hello\r\n"...), false
		}
		*greeted = true
		s.mu.Lock()
		s.lastHello = name
		s.mu.Unlock()
		return append(out, "OK\r\n"...), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cmd == kvline.CmdInfo {
		hello := s.lastHello
		if hello == "" {
			hello = "-"
		}
		out = append(out, "INFO keys "...)
		out = strconv.AppendInt(out, int64(len(s.data)), 10)
		out = append(out, " hello "...)
		out = append(out, hello...)
		return append(out, "\r\n"...), false
	}
	if !*greeted {
		return append(out, "ERROR say HELLO first\r\n"...), false
	}
	switch cmd {
	case kvline.CmdGet:
		out = appendValue(out, s.data, req.Keys[0])
	case kvline.CmdSet:
		s.data[string(req.Keys[0])] = string(req.Args[0])
		out = append(out, "OK\r\n"...)
	case kvline.CmdDel:
		n := 0
		for _, k := range req.Keys {
			if _, ok := s.data[string(k)]; ok {
				delete(s.data, string(k))
				n++
			}
		}
		out = appendCount(out, n)
	case kvline.CmdMget:
		out = append(out, "VALUES "...)
		out = strconv.AppendInt(out, int64(len(req.Keys)), 10)
		out = append(out, "\r\n"...)
		for _, k := range req.Keys {
			out = appendValue(out, s.data, k)
		}
	case kvline.CmdSize:
		out = appendCount(out, len(s.data))
	default:
		out = append(out, "ERROR unknown command\r\n"...)
	}
	return out, false
}

func appendValue(out []byte, data map[string]string, key []byte) []byte {
	v, ok := data[string(key)]
	if !ok {
		return append(out, "NONE\r\n"...)
	}
	out = append(out, "VALUE "...)
	out = append(out, v...)
	return append(out, "\r\n"...)
}

func appendCount(out []byte, n int) []byte {
	out = append(out, "COUNT "...)
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, "\r\n"...)
}
