//go:build linux

package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A binary upgrade without a lost request, the way nginx does it but
// further: the running walnut starts the new binary with its listening
// sockets inherited, so connections waiting to be accepted stay queued
// on the very same sockets; once the new process serves, the old one
// stops accepting and hands every client connection over, between two
// requests, with the bytes it had read but not yet parsed. Clients see
// nothing: no reconnect, no error. Messages go over a SOCK_SEQPACKET
// socket pair, the descriptors as SCM_RIGHTS.

// inheritEnv carries the inheritance to the new process.
const inheritEnv = "WALNUT_INHERIT"

// Message types on the hand-off socket.
const (
	msgReady  = 'R' // new -> old: serving; start handing off
	msgClient = 'C' // old -> new: a client, its descriptor attached
	msgData   = 'D' // old -> new: more of the client's unparsed bytes
	msgEnd    = 'E' // old -> new: no more clients
	maxChunk  = 32 << 10
)

type inheritSpec struct {
	Handoff   int            `json:"handoff"`
	Listeners map[string]int `json:"listeners"` // configured listen address -> descriptor
}

// Inheritance is what a walnut started by Upgrade receives from the old
// process: its listening sockets and the socket clients come over.
type Inheritance struct {
	handoff   int
	listeners map[string]int
}

// InheritedFromEnv returns what an upgrading walnut passed to this
// process, or nil if this process was started normally.
func InheritedFromEnv() (*Inheritance, error) {
	v := os.Getenv(inheritEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(inheritEnv)
	var spec inheritSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", inheritEnv, err)
	}
	inh := &Inheritance{handoff: spec.Handoff, listeners: spec.Listeners}
	for _, fd := range append([]int{spec.Handoff}, mapValues(spec.Listeners)...) {
		unix.CloseOnExec(fd)
	}
	return inh, nil
}

func mapValues(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// listener takes the inherited socket for a pool's listen address.
func (inh *Inheritance) listener(listen string) (int, net.Addr, bool) {
	if inh == nil {
		return -1, nil, false
	}
	fd, ok := inh.listeners[listen]
	if !ok {
		return -1, nil, false
	}
	delete(inh.listeners, listen)
	unix.SetNonblock(fd, true)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, false
	}
	var addr net.Addr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		addr = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *unix.SockaddrUnix:
		addr = &net.UnixAddr{Name: a.Name, Net: "unix"}
	default:
		unix.Close(fd)
		return -1, nil, false
	}
	return fd, addr, true
}

// serve tells the old process this one is serving, then adopts the
// clients it hands over.
func (inh *Inheritance) serve(px *Proxy) {
	for _, fd := range inh.listeners {
		// Pools the new configuration dropped.
		unix.Close(fd)
	}
	inh.listeners = nil
	if _, err := unix.Write(inh.handoff, []byte{msgReady}); err != nil {
		px.log.Error("upgrade: cannot tell the old process we are ready", "err", err)
		unix.Close(inh.handoff)
		return
	}
	go inh.receive(px)
}

func (inh *Inheritance) receive(px *Proxy) {
	defer unix.Close(inh.handoff)
	buf := make([]byte, maxChunk+512)
	oob := make([]byte, unix.CmsgSpace(4))
	adopted, next := 0, 0
	for {
		n, oobn, _, _, err := unix.Recvmsg(inh.handoff, buf, oob, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			if err != nil {
				px.log.Warn("upgrade: hand-off socket failed", "err", err)
			}
			break
		}
		if buf[0] == msgEnd {
			break
		}
		if buf[0] != msgClient {
			px.log.Warn("upgrade: unexpected hand-off message", "type", buf[0])
			continue
		}
		fd, err := rightsFD(oob[:oobn])
		if err != nil {
			px.log.Warn("upgrade: client without descriptor", "err", err)
			continue
		}
		pool, addr, session, total, first, err := parseClientMsg(buf[:n])
		if err != nil {
			unix.Close(fd)
			px.log.Warn("upgrade: bad client message", "err", err)
			continue
		}
		data := append(make([]byte, 0, total), first...)
		for len(data) < total {
			n, _, _, _, err := unix.Recvmsg(inh.handoff, buf, nil, 0)
			if err != nil || n == 0 || buf[0] != msgData {
				break
			}
			data = append(data, buf[1:n]...)
		}
		p := px.Pool(pool)
		px.mu.Lock()
		loops := px.loops
		px.mu.Unlock()
		if p == nil || len(loops) == 0 {
			unix.Close(fd)
			continue
		}
		l := loops[next%len(loops)]
		next++
		p.clients.Add(1)
		if !l.post(func() { p.adopt(l, fd, addr, data, session) }) {
			unix.Close(fd)
			p.clients.Add(-1)
			continue
		}
		adopted++
	}
	px.log.Info("upgrade: clients taken over", "clients", adopted)
}

func rightsFD(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, err
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err == nil && len(fds) > 0 {
			for _, extra := range fds[1:] {
				unix.Close(extra)
			}
			unix.CloseOnExec(fds[0])
			return fds[0], nil
		}
	}
	return -1, errors.New("no descriptor attached")
}

// A client message: type, pool name, client address, the codec's
// session, total length of the unparsed bytes, then the first of them.
func appendClientMsg(dst []byte, pool, addr string, session []byte, total int) []byte {
	dst = append(dst, msgClient)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pool)))
	dst = append(dst, pool...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(addr)))
	dst = append(dst, addr...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(session)))
	dst = append(dst, session...)
	return binary.BigEndian.AppendUint32(dst, uint32(total))
}

func parseClientMsg(b []byte) (pool, addr string, session []byte, total int, first []byte, err error) {
	bad := errors.New("short client message")
	b = b[1:]
	field := func() (string, bool) {
		if len(b) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return "", false
		}
		s := string(b[2 : 2+n])
		b = b[2+n:]
		return s, true
	}
	var ok bool
	var sess string
	if pool, ok = field(); !ok {
		return "", "", nil, 0, nil, bad
	}
	if addr, ok = field(); !ok {
		return "", "", nil, 0, nil, bad
	}
	if sess, ok = field(); !ok {
		return "", "", nil, 0, nil, bad
	}
	if len(b) < 4 {
		return "", "", nil, 0, nil, bad
	}
	total = int(binary.BigEndian.Uint32(b))
	return pool, addr, []byte(sess), total, b[4:], nil
}

// handoffSender sends clients to the new process; loops share it.
type handoffSender struct {
	mu sync.Mutex
	fd int
}

func (h *handoffSender) send(fd int, pool, addr string, buffered, session []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := appendClientMsg(make([]byte, 0, 64+len(pool)+len(addr)+len(session)), pool, addr, session, len(buffered))
	first := min(len(buffered), maxChunk)
	msg = append(msg, buffered[:first]...)
	if err := unix.Sendmsg(h.fd, msg, unix.UnixRights(fd), nil, 0); err != nil {
		return err
	}
	for rest := buffered[first:]; len(rest) > 0; {
		k := min(len(rest), maxChunk)
		if err := unix.Sendmsg(h.fd, append([]byte{msgData}, rest[:k]...), nil, nil, 0); err != nil {
			return err
		}
		rest = rest[k:]
	}
	return nil
}

// Upgrade replaces this process with a new one running argv (the
// binary and arguments to start; usually the same as this process's),
// without closing a listening socket or a client connection. It returns
// once every client has been handed over and this proxy is closed; the
// caller then exits. If the new process does not come up within ctx's
// deadline, the upgrade is abandoned and this process keeps serving.
func (px *Proxy) Upgrade(ctx context.Context, argv []string) error {
	px.mu.Lock()
	if !px.started || px.closed {
		px.mu.Unlock()
		return errors.New("proxy is not running")
	}
	pools := append([]*Pool(nil), px.pools...)
	px.mu.Unlock()

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("upgrade: socketpair: %w", err)
	}
	parent, child := pair[0], pair[1]
	spec := inheritSpec{Handoff: 3, Listeners: map[string]int{}}
	files := []uintptr{0, 1, 2, uintptr(child)}
	for _, p := range pools {
		if p.lnFD < 0 {
			continue
		}
		spec.Listeners[p.settings().cfg.Listen] = len(files)
		files = append(files, uintptr(p.lnFD))
	}
	env, _ := json.Marshal(spec)
	bin, err := os.Executable()
	if err != nil {
		bin = argv[0]
	}
	pid, err := syscall.ForkExec(bin, argv, &syscall.ProcAttr{
		Env:   append(os.Environ(), inheritEnv+"="+string(env)),
		Files: files,
		Sys:   &syscall.SysProcAttr{},
	})
	unix.Close(child)
	if err != nil {
		unix.Close(parent)
		return fmt.Errorf("upgrade: start %s: %w", bin, err)
	}
	px.log.Info("upgrade: new process started", "pid", pid, "binary", bin)

	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 16)
		n, err := unix.Read(parent, b)
		switch {
		case err != nil:
			ready <- err
		case n == 0:
			ready <- errors.New("new process exited before serving")
		case b[0] != msgReady:
			ready <- fmt.Errorf("unexpected message %q", b[:n])
		default:
			ready <- nil
		}
	}()
	exited := make(chan error, 1)
	go func() {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		exited <- fmt.Errorf("new process exited: %v", ws)
	}()
	select {
	case err = <-ready:
	case err = <-exited:
	case <-ctx.Done():
		syscall.Kill(pid, syscall.SIGTERM)
		err = ctx.Err()
	}
	if err != nil {
		unix.Close(parent)
		return fmt.Errorf("upgrade abandoned, still serving: %w", err)
	}
	px.log.Info("upgrade: new process serving; handing clients over", "pid", pid)
	px.upgrading.Store(true)
	h := &handoffSender{fd: parent}
	start := time.Now()
	err = px.drainAndClose(ctx, h)
	h.mu.Lock()
	unix.Sendmsg(parent, []byte{msgEnd}, nil, nil, 0)
	h.mu.Unlock()
	unix.Close(parent)
	px.log.Info("upgrade: done", "took", time.Since(start))
	return err
}
