package stats

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/walnutproxy/walnut/core"
)

// Server is a running stats endpoint.
type Server struct {
	ln   net.Listener
	px   *core.Proxy
	log  *slog.Logger
	wg   sync.WaitGroup
	once sync.Once
}

// Listen serves px's statistics on addr.
func Listen(addr string, px *core.Proxy, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, px: px, log: log}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr returns the address the endpoint listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("stats: accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		snap := s.px.Snapshot()
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		conn.Write(Encode(nil, &snap))
		conn.Close()
	}
}

// Close stops the endpoint.
func (s *Server) Close() error {
	s.once.Do(func() { s.ln.Close() })
	s.wg.Wait()
	return nil
}

// Encode appends snap to dst as nutcracker writes its stats: the same
// fields in the same order (which a Go map would lose), numbers as
// integers, servers keyed by name.
func Encode(dst []byte, snap *core.Snapshot) []byte {
	dst = append(dst, '{')
	dst = str(dst, "service", "walnut")
	dst = append(dst, ", "...)
	dst = str(dst, "source", snap.Source)
	dst = append(dst, ", "...)
	dst = str(dst, "version", snap.Version)
	dst = num(dst, ", ", "uptime", int64(snap.Time.Sub(snap.Start)/time.Second))
	dst = num(dst, ", ", "timestamp", snap.Time.Unix())
	dst = num(dst, ", ", "total_connections", int64(snap.TotalConnections))
	dst = num(dst, ", ", "curr_connections", snap.CurrConnections)
	for _, p := range snap.Pools {
		dst = append(dst, ", "...)
		dst = quote(dst, p.Name)
		dst = append(dst, ": {"...)
		dst = num(dst, "", "client_eof", int64(p.ClientEOF))
		dst = num(dst, ", ", "client_err", int64(p.ClientErr))
		dst = num(dst, ", ", "client_connections", p.ClientConnections)
		dst = num(dst, ", ", "server_ejects", int64(p.ServerEjects))
		dst = num(dst, ", ", "forward_error", int64(p.ForwardError))
		dst = num(dst, ", ", "fragments", int64(p.Fragments))
		dst = num(dst, ", ", "dedicated_connections", p.DedicatedConnections)
		dst = num(dst, ", ", "dedicated_leases", int64(p.DedicatedLeases))
		dst = num(dst, ", ", "dedicated_refused", int64(p.DedicatedRefused))
		dst = num(dst, ", ", "pushes", int64(p.Pushes))
		for i, s := range p.Servers {
			if i == 0 {
				dst = append(dst, ", "...)
			} else {
				dst = append(dst, ',')
			}
			dst = quote(dst, s.Name)
			dst = append(dst, ": {"...)
			dst = num(dst, "", "server_eof", int64(s.ServerEOF))
			dst = num(dst, ", ", "server_err", int64(s.ServerErr))
			dst = num(dst, ", ", "server_timedout", int64(s.ServerTimedout))
			dst = num(dst, ", ", "server_connections", s.ServerConnections)
			dst = num(dst, ", ", "server_ejected_at", s.ServerEjectedAt)
			dst = num(dst, ", ", "requests", int64(s.Requests))
			dst = num(dst, ", ", "request_bytes", int64(s.RequestBytes))
			dst = num(dst, ", ", "responses", int64(s.Responses))
			dst = num(dst, ", ", "response_bytes", int64(s.ResponseBytes))
			dst = num(dst, ", ", "in_queue", s.InQueue)
			dst = num(dst, ", ", "in_queue_bytes", s.InQueueBytes)
			dst = num(dst, ", ", "out_queue", s.OutQueue)
			dst = num(dst, ", ", "out_queue_bytes", s.OutQueueBytes)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return append(dst, "}\n"...)
}

func str(dst []byte, k, v string) []byte {
	dst = quote(dst, k)
	dst = append(dst, ':')
	return quote(dst, v)
}

// quote appends s as a JSON string.
func quote(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

func num(dst []byte, sep, k string, v int64) []byte {
	dst = append(dst, sep...)
	dst = quote(dst, k)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, v, 10)
}
