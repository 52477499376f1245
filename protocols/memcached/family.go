package memcached

import "github.com/walnutproxy/walnut/protocols"

var _ protocols.Classifier = (*Codec)(nil)

// families are indexed by Request.Cmd; cmdNone is what walnut answers
// itself (mn, quit, errors).
var families = []string{
	cmdNone: "local", cmdGet: "get", cmdGets: "gets", cmdGat: "gat", cmdGats: "gats",
	cmdSet: "set", cmdAdd: "add", cmdReplace: "replace", cmdAppend: "append", cmdPrepend: "prepend",
	cmdCas: "cas", cmdIncr: "incr", cmdDecr: "decr", cmdDelete: "delete", cmdTouch: "touch",
	cmdMg: "mg", cmdMs: "ms", cmdMd: "md", cmdMa: "ma", cmdVersion: "version",
}

// Families implements protocols.Classifier: one family per command.
func (c *Codec) Families() []string { return families }

// Family implements protocols.Classifier.
func (c *Codec) Family(req *protocols.Request) int {
	if req.Kind == protocols.Local || int(req.Cmd) >= len(families) {
		return int(cmdNone)
	}
	return int(req.Cmd)
}
