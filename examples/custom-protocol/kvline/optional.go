package kvline

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
)

// The optional interfaces kvline implements. The core finds each by a
// type assertion on the codec when it builds a pool's settings, and the
// ones a codec lacks cost it nothing.
var (
	_ protocols.Greeter       = (*Codec)(nil)
	_ protocols.HealthChecker = (*Codec)(nil)
	_ protocols.Classifier    = (*Codec)(nil)
	_ protocols.ReadThrough   = (*Codec)(nil)
)

// Greeting implements protocols.Greeter: every new backend connection
// starts with HELLO <greeting>, and nothing queued on it is sent before
// the backend has answered.
func (c *Codec) Greeting() ([]byte, int) { return c.hello, 1 }

// GreetingReply implements protocols.Greeter. An error closes the
// connection and fails what was queued on it with the error's text,
// which the client gets after FAIL.
func (c *Codec) GreetingReply(_ int, buf []byte) (int, error) {
	end, err := c.respLine(buf, 0)
	if end == 0 {
		return 0, err
	}
	l := buf[:end-2]
	switch {
	case string(l) == "OK":
		return end, nil
	case isError(l):
		return 0, fmt.Errorf("backend refused %s: %s", bytes.TrimSuffix(c.hello, []byte("\r\n")), bytes.TrimSpace(l[len("ERROR"):]))
	}
	return 0, fmt.Errorf("backend answered %s with %q", bytes.TrimSuffix(c.hello, []byte("\r\n")), l)
}

var pingProbe = []byte("PING\r\n")

// HealthProbe implements protocols.HealthChecker: with
// health_check_interval set, walnut PINGs every backend on a connection
// of its own, greeted first as any other.
func (c *Codec) HealthProbe() []byte { return pingProbe }

// HealthReply implements protocols.HealthChecker: a backend that can
// serve answers PONG; an ERROR (one that refused the greeting, say) is
// not healthy.
func (c *Codec) HealthReply(buf []byte) (int, bool, error) {
	end, err := c.respLine(buf, 0)
	if end == 0 {
		return 0, false, err
	}
	l := buf[:end-2]
	switch {
	case string(l) == "PONG" || bytes.HasPrefix(l, []byte("PONG ")):
		return end, true, nil
	case isError(l):
		return end, false, nil
	}
	return 0, false, errBadHealthReply
}

var errBadHealthReply = errors.New("kvline: PING answered with neither PONG nor ERROR")

// families are the commands, by Command; "error" counts the requests
// walnut answered with an error.
var families = func() []string {
	f := make([]string, numCommands)
	for i := range f {
		f[i] = names[i]
	}
	f[CmdNone] = "error"
	for i := range f {
		f[i] = string(bytes.ToLower([]byte(f[i])))
	}
	return f
}()

// Families implements protocols.Classifier: requests are counted by
// command in the metrics (walnut_requests_total{command="get"}).
func (c *Codec) Families() []string { return families }

// Family implements protocols.Classifier.
func (c *Codec) Family(req *protocols.Request) int {
	if req.Cmd >= uint16(numCommands) {
		return int(CmdNone)
	}
	return int(req.Cmd)
}

// Through implements protocols.ReadThrough, so that a kvline pool can
// serve while its keys move to new backends ([pools.NAME.migration]): a
// read that misses on a key's new backend asks its old one, and a delete
// deletes on both.
func (c *Codec) Through(req *protocols.Request) protocols.Through {
	switch Command(req.Cmd) {
	case CmdGet, CmdMget:
		return protocols.ThroughRead
	case CmdDel:
		return protocols.ThroughDelete
	}
	return protocols.ThroughNone
}

// Missed implements protocols.ReadThrough for replies about one key.
func (c *Codec) Missed(req *protocols.Request, resp []byte) bool {
	switch Command(req.Cmd) {
	case CmdGet:
		return string(resp) == "NONE\r\n"
	case CmdMget:
		return string(resp) == "VALUES 1\r\nNONE\r\n"
	case CmdDel:
		return string(resp) == "COUNT 0\r\n"
	}
	return false
}
