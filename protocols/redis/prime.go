package redis

import "github.com/walnutproxy/walnut/protocols"

var (
	_ protocols.Primer = (*Codec)(nil)
	_ protocols.Heir   = (*Codec)(nil)
)

// Prime implements protocols.Primer: every library and script the pool
// keeps (registry.go) goes to a server whose shared connection opens, or
// that comes back into the routing table, with FUNCTION LOAD (REPLACE,
// for a library loaded through walnut) and SCRIPT LOAD, ahead of the
// clients' requests; and the first time, FUNCTION LIST WITHCODE, to learn
// the libraries it had before walnut started.
func (c *Codec) Prime(server string) ([]byte, int) {
	return c.fn.primeFor(server)
}

// PrimeReply implements protocols.Primer: a load the server refused is
// logged and counted (INFO's walnut_reload_failures), and the server
// serves on without it.
func (c *Codec) PrimeReply(server string, _ int, resp []byte) {
	c.fn.primeReply(server, resp)
}

// Inherit implements protocols.Heir: a reload keeps what walnut knows of
// the pool's functions and scripts.
func (c *Codec) Inherit(prev protocols.Codec) {
	if p, ok := prev.(*Codec); ok && p.fn != nil {
		c.fn = p.fn
	}
}
