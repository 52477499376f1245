package redis

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

// SORT's BY and GET patterns name keys walnut cannot list: "w_*" is a
// key for every element of the sorted list, "w_" and the element, read
// by the server that sorts. On a pool of several servers walnut serves
// such a SORT only when every key a pattern can name lives on the sorted
// key's server: when the pool has a hash_tag and the pattern's tag is
// whole before its '*' ("{user1}w_*"), every key it names hashes as that
// tag does, whatever the element; that tag then routes with the sorted
// key's (the core refuses the request if they part). A pattern without
// '*' names no key (Redis then does not sort, or answers nil), nor does
// GET #; BY nosort is such a pattern. A pool of one server forwards
// every SORT.

// sortPatterns checks SORT's patterns once route has found its keys,
// adding the part of each pattern that routes its keys.
func (c *Codec) sortPatterns(req *protocols.Request) {
	args := req.Args
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case equalFold(a, "LIMIT"):
			i += 2
		case equalFold(a, "STORE"):
			i++
		case (equalFold(a, "GET") || equalFold(a, "BY")) && i+1 < len(args):
			i++
			pat := args[i]
			star := bytes.IndexByte(pat, '*')
			if star < 0 {
				continue // names no key: GET #, BY nosort
			}
			if !c.tagWhole(pat[:star]) {
				req.Keys = req.Keys[:0]
				req.Kind = protocols.Local
				r := append(req.Reply[:0], "-ERR walnut does not run "...)
				r = append(r, policies[req.Cmd].upper...)
				r = append(r, " with the pattern '"...)
				r = appendSanitized(r, pat, 128)
				r = append(r, "' on a pool of several servers: the keys it names could be on any of them; with the pool's hash_tag, put the sorted key's tag before the '*' ({tag}w_*)\r\n"...)
				req.Reply = r
				return
			}
			req.Keys = append(req.Keys, pat[:star])
		}
	}
}

// tagWhole reports whether prefix holds the pool's hash tag whole: the
// first opening byte, and a closing one after it with something between,
// as the core finds the part of a key it hashes.
func (c *Codec) tagWhole(prefix []byte) bool {
	if !c.hasTag {
		return false
	}
	i := bytes.IndexByte(prefix, c.tag[0])
	if i < 0 {
		return false
	}
	j := bytes.IndexByte(prefix[i+1:], c.tag[1])
	return j > 0
}
