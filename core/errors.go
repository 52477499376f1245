//go:build linux

package core

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// ServerError is a request's answer when its server could not answer
// it. Its text starts with nutcracker's words for the failure (the
// strerror text of the errno behind it: "Connection refused",
// "Connection timed out", "Host is down"...), which clients and their
// tests match on, and goes on with walnut's context:
//
//	Connection refused (pool alpha, server 127.0.0.1:6379)
//	Connection timed out (pool alpha, server 127.0.0.1:6379: no reply within 400ms)
//
// The codecs put it after "-ERR " or "SERVER_ERROR ".
type ServerError struct {
	// Reason is nutcracker's text for the failure.
	Reason string
	// Pool and Server name where it happened; Server is empty when no
	// server was there to ask.
	Pool, Server string
	// Detail, if not empty, says more than Reason does.
	Detail string
	// Err is what walnut saw: the system's error, a timeout.
	Err  error
	text string
}

func (e *ServerError) Error() string { return e.text }

func (e *ServerError) Unwrap() error { return e.Err }

func newServerError(reason, pool, server, detail string, err error) *ServerError {
	e := &ServerError{Reason: reason, Pool: pool, Server: server, Detail: detail, Err: err}
	var b strings.Builder
	b.WriteString(reason)
	b.WriteString(" (pool ")
	b.WriteString(pool)
	if server != "" {
		b.WriteString(", server ")
		b.WriteString(server)
	}
	if detail != "" {
		b.WriteString(": ")
		b.WriteString(detail)
	}
	b.WriteByte(')')
	e.text = b.String()
	return e
}

// dialError marks a failed connection attempt, whose timeout is the
// pool's dial_timeout.
type dialError struct {
	err     error
	timeout time.Duration
}

func (e dialError) Error() string { return "dial: " + e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// setupError is a server's refusal of a new connection's setup (AUTH,
// SELECT): its text is the codec's.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

// Texts of failures nutcracker has no errno for.
const (
	// nutcracker answers "unknown" (errno 0) when a server closes a
	// connection that has requests in flight.
	reasonServerClosed = "Connection closed by server"
	reasonBadResponse  = "Invalid response from server"
	reasonShutdown     = "Proxy is shutting down"
)

// serverError builds the answer of the requests that server b failed
// with err.
func (p *Pool) serverError(b *backend, err error) error {
	reason, detail := failureText(err)
	return newServerError(reason, p.name, b.String(), detail, err)
}

// failureText turns what walnut saw into nutcracker's words and, where
// they are not the whole story, a detail.
func failureText(err error) (reason, detail string) {
	var (
		to    timeoutError
		dial  dialError
		setup setupError
		dns   *net.DNSError
		errno syscall.Errno
	)
	switch {
	case errors.As(err, &to):
		return "Connection timed out", "no reply within " + to.after.String()
	case errors.As(err, &setup):
		return setup.err.Error(), ""
	case errors.Is(err, errServerClosed):
		return reasonServerClosed, ""
	case errors.Is(err, errClosed):
		return reasonShutdown, ""
	case errors.As(err, &dns):
		// nutcracker resolves a server's name when it connects and
		// answers EHOSTDOWN when that fails.
		return "Host is down", "cannot resolve " + dns.Name + ": " + dns.Err
	case errors.As(err, &dial) && isTimeout(err):
		return "Connection timed out", "no connection within " + dial.timeout.String()
	case errors.As(err, &errno):
		return strerror(errno), ""
	case errors.Is(err, errUnexpectedData), errors.Is(err, errResponseTooLarge), protocols.IsProtocolError(err):
		return reasonBadResponse, err.Error()
	}
	return capitalize(err.Error()), ""
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// strerror is the C library's text for errno, which Go has in lower
// case: "connection refused" becomes "Connection refused".
func strerror(errno syscall.Errno) string {
	return capitalize(errno.Error())
}

func capitalize(s string) string {
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// noServerError answers a request when none of its pool's servers is in
// the routing table: every one is ejected. nutcracker answers
// "Connection refused" then.
func noServerError(pool string) error {
	return newServerError("Connection refused", pool, "", "every server is ejected", ErrNoServer)
}
