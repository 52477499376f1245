package memcached

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

var _ protocols.ReadThrough = (*Codec)(nil)

// Through implements protocols.ReadThrough: get, gets, gat, gats and mg
// are reads, delete and md deletes.
func (c *Codec) Through(req *protocols.Request) protocols.Through {
	if req.Kind == protocols.Local {
		return protocols.ThroughNone
	}
	switch req.Cmd {
	case cmdGet, cmdGets, cmdGat, cmdGats, cmdMg:
		return protocols.ThroughRead
	case cmdDelete, cmdMd:
		return protocols.ThroughDelete
	}
	return protocols.ThroughNone
}

// Missed implements protocols.ReadThrough: END alone for a retrieval of
// one key, EN for mg, NOT_FOUND for delete, NF for md.
func (c *Codec) Missed(req *protocols.Request, resp []byte) bool {
	switch req.Cmd {
	case cmdGet, cmdGets, cmdGat, cmdGats:
		return bytes.Equal(resp, []byte(replyEnd))
	case cmdMg:
		return metaCode(resp, "EN")
	case cmdDelete:
		return bytes.Equal(resp, []byte("NOT_FOUND\r\n"))
	case cmdMd:
		return metaCode(resp, "NF")
	}
	return false
}

// metaCode reports whether a meta response starts with the two-letter
// code, alone on its line or followed by flags.
func metaCode(resp []byte, code string) bool {
	return len(resp) > 2 && resp[0] == code[0] && resp[1] == code[1] && (resp[2] == ' ' || resp[2] == '\r')
}
