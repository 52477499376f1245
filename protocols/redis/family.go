package redis

import "github.com/walnutproxy/walnut/protocols"

var _ protocols.Classifier = (*Codec)(nil)

// families are the command table's names, then "local" for whatever
// walnut answers itself (PING, QUIT, errors, refusals).
var families = func() []string {
	f := make([]string, 0, len(commandTable)+1)
	for _, c := range commandTable {
		f = append(f, c.name)
	}
	return append(f, "local")
}()

// Families implements protocols.Classifier: one family per command.
func (c *Codec) Families() []string { return families }

// Family implements protocols.Classifier.
func (c *Codec) Family(req *protocols.Request) int {
	if req.Kind == protocols.Local || int(req.Cmd) >= len(commandTable) {
		return len(commandTable)
	}
	return int(req.Cmd)
}
