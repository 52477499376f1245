package memcached

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.HealthChecker = (*Codec)(nil)

var versionProbe = []byte("version\r\n")

// HealthProbe implements protocols.HealthChecker with version.
func (c *Codec) HealthProbe() []byte { return versionProbe }

// HealthReply implements protocols.HealthChecker: a healthy server
// answers "VERSION ...".
func (c *Codec) HealthReply(buf []byte) (int, bool, error) {
	end, err := respLine(buf, 0)
	if end == 0 || err != nil {
		return end, false, err
	}
	return end, bytes.HasPrefix(buf[:end], []byte("VERSION ")), nil
}
