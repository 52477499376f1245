//go:build linux

package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops own raw non-blocking file descriptors rather than
// net.Conns: Go's netpoller would add a read that fails with EAGAIN before
// every real one and a goroutine wake-up per event, which measured as
// the larger part of a proxied request's cost.

// readFD reads into b without entering the scheduler: the descriptor is
// non-blocking, so the call cannot block, and skipping entersyscall saves
// a good share of a short read's cost.
func readFD(fd int, b []byte) (int, error) { return rawIO(unix.SYS_READ, fd, b) }

// writeFD writes b, like readFD.
func writeFD(fd int, b []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, b) }

// rawIO is readFD or writeFD: the system call trap, read or write, on fd
// and b with RawSyscall.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// listenFD opens a non-blocking listening socket on addr: host:port, or
// a unix socket path.
func listenFD(addr string, backlog int, mode uint32) (int, net.Addr, error) {
	if strings.HasPrefix(addr, "/") {
		return listenUnix(addr, backlog, mode)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return -1, nil, fmt.Errorf("bad port %q", portStr)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.DefaultResolver.LookupIP(context.Background(), "ip", host)
		if err != nil {
			return -1, nil, err
		}
		ip = ips[0]
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := ip.To4(); ip4 != nil {
		s := &unix.SockaddrInet4{Port: port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		family = unix.AF_INET6
		s := &unix.SockaddrInet6{Port: port}
		copy(s.Addr[:], ip.To16())
		sa = s
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	// Restarting walnut must not wait for the old sockets' TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("getsockname", err)
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]).To16(), Port: b.Port}, nil
	case *unix.SockaddrInet6:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, nil
	}
	return fd, &net.TCPAddr{IP: ip, Port: port}, nil
}

func listenUnix(path string, backlog int, mode uint32) (int, net.Addr, error) {
	// A socket file left by a process that died would make bind fail
	// forever; nobody is serving it if a connection is refused.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return -1, nil, fmt.Errorf("another process is serving %s", path)
	}
	os.Remove(path)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("bind", err)
	}
	if mode != 0 {
		if err := os.Chmod(path, os.FileMode(mode)); err != nil {
			unix.Close(fd)
			os.Remove(path)
			return -1, nil, err
		}
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return -1, nil, os.NewSyscallError("listen", err)
	}
	return fd, &net.UnixAddr{Name: path, Net: "unix"}, nil
}

// dialFD connects to addr with the standard library (name resolution,
// unix sockets, the timeout) and returns a non-blocking duplicate of the
// connection's descriptor for an event loop. Dialing is rare, so doing it
// on a goroutine and handing the descriptor over costs nothing that
// matters.
func dialFD(network, addr string, timeout time.Duration) (int, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial(network, addr)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("dup", dupErr)
	}
	// The duplicate shares the file status flags, so it is non-blocking
	// already; say so anyway rather than depend on it.
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return nfd, nil
}
