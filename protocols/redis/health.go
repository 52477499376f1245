package redis

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.HealthChecker = (*Codec)(nil)

var pingProbe = []byte("*1\r\n$4\r\nPING\r\n")

// HealthProbe implements protocols.HealthChecker with PING.
func (c *Codec) HealthProbe() []byte { return pingProbe }

// HealthReply implements protocols.HealthChecker: a healthy server
// answers PONG; an error reply (a server still loading its data, say)
// means not ready.
func (c *Codec) HealthReply(buf []byte) (int, bool, error) {
	n, err := replyLen(buf, c.maxReplyBulk)
	if n == 0 || err != nil {
		return n, false, err
	}
	return n, bytes.Equal(buf[:n], []byte("+PONG\r\n")), nil
}
