package redis

import (
	"slices"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func sortRefusal(cmd, pattern string) string {
	return "-ERR walnut does not run " + cmd + " with the pattern '" + pattern + "' on a pool of several servers: the keys it names could be on any of them; with the pool's hash_tag, put the sorted key's tag before the '*' ({tag}w_*)\r\n"
}

// TestSortPatterns: a pattern routes with the sorted key when its hash
// tag is whole before the '*', so that every key it names hashes alike.
func TestSortPatterns(t *testing.T) {
	tagged := newCodec(t, protocols.Options{HashTag: "{}"})
	plain := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		c       *Codec
		servers int
		in      string
		keys    []string // nil: refused
	}{
		{tagged, 3, "SORT {u}l BY {u}w_* GET {u}o_*->f GET #", []string{"{u}l", "{u}w_", "{u}o_"}},
		{tagged, 3, "SORT {u}l BY {v}w_*", []string{"{u}l", "{v}w_"}}, // the core refuses it: {v} is elsewhere
		{tagged, 3, "SORT {u}l BY w_{*}", nil},
		{tagged, 3, "SORT {u}l BY w_*{u}", nil},
		{tagged, 3, "SORT {u}l BY {}w_*", nil}, // an empty tag hashes the whole key
		{tagged, 3, "SORT {u}l GET # BY nosort STORE {u}d", []string{"{u}l", "{u}d"}},
		{tagged, 3, "SORT_RO {u}l LIMIT 0 1 GET {u}*", []string{"{u}l", "{u}"}},
		{plain, 3, "SORT l BY w_*", nil},
		{plain, 3, "SORT l BY weight GET #", []string{"l"}},
		{plain, 1, "SORT l BY w_* GET o_*", []string{"l"}}, // one server: as it is
	} {
		var req protocols.Request
		req.Servers = tc.servers
		in := tc.in + "\r\n"
		if _, err := tc.c.ParseRequest([]byte(in), &req); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if tc.keys == nil {
			if req.Kind != protocols.Local || len(req.Reply) == 0 || req.Reply[0] != '-' {
				t.Errorf("%s: kind %d reply %q, want refused", tc.in, req.Kind, req.Reply)
			}
			continue
		}
		if req.Kind != protocols.Forward || !slices.Equal(strs(req.Keys), tc.keys) {
			t.Errorf("%s: kind %d keys %q reply %q, want forwarded by %q", tc.in, req.Kind, strs(req.Keys), req.Reply, tc.keys)
		}
	}
}
