package nutcracker_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	_ "github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/ketama"
	_ "github.com/walnutproxy/walnut/distributions/modula"
)

const placementsFile = "testdata/placements.json"

// recording is what testdata/placements.json holds: pools as nutcracker
// was configured, the keys sent, and the server nutcracker chose for each.
type recording struct {
	Comment string     `json:"comment"`
	Keys    []string   `json:"keys"` // hex
	Cases   []poolCase `json:"cases"`
}

type poolCase struct {
	Name    string       `json:"name"`
	Hash    string       `json:"hash"`
	Dist    string       `json:"distribution"`
	Servers []serverSpec `json:"servers"` // in configuration order
	// Keys, when set, replaces the recording's shared keys for this case.
	Keys []string `json:"keys,omitempty"`
	// Picks is, per key, the index in Servers of the server nutcracker
	// forwarded the key to, space-separated.
	Picks string `json:"picks"`
}

type serverSpec struct {
	Addr   string `json:"addr"`
	Weight int    `json:"weight"`
	Name   string `json:"name,omitempty"` // explicit name, if configured
	// Dead marks an unreachable server that nutcracker had ejected (with
	// auto_eject_hosts) before the keys were sent.
	Dead bool `json:"dead,omitempty"`
}

func (c *poolCase) keys(shared []string) [][]byte {
	hexKeys := shared
	if c.Keys != nil {
		hexKeys = c.Keys
	}
	keys := make([][]byte, len(hexKeys))
	for i, h := range hexKeys {
		k, err := hex.DecodeString(h)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
}

// expect computes with walnut's code, for each key, the index in
// c.Servers that nutcracker should pick.
func (c *poolCase) expect(keys [][]byte) ([]int, error) {
	fn, err := distributions.LookupHash(c.Hash)
	if err != nil {
		return nil, err
	}
	dist, err := distributions.Lookup(c.Dist)
	if err != nil {
		return nil, err
	}
	servers := make([]distributions.Server, len(c.Servers))
	for i, s := range c.Servers {
		name := s.Name
		if name == "" {
			name = distributions.DefaultName(s.Addr)
		}
		servers[i] = distributions.Server{Name: name, Addr: s.Addr, Weight: s.Weight, Alive: !s.Dead}
	}
	distributions.SortServers(servers)
	table, err := dist.Build(servers)
	if err != nil {
		return nil, err
	}
	picks := make([]int, len(keys))
	for i, k := range keys {
		p := table.Pick(fn(k))
		if p < 0 {
			return nil, fmt.Errorf("no server for key %x", k)
		}
		picks[i] = slices.IndexFunc(c.Servers, func(s serverSpec) bool { return s.Addr == servers[p].Addr })
	}
	return picks, nil
}

func formatPicks(picks []int) string {
	s := make([]string, len(picks))
	for i, p := range picks {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, " ")
}

func parsePicks(s string) ([]int, error) {
	var picks []int
	for _, f := range strings.Fields(s) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		picks = append(picks, p)
	}
	return picks, nil
}

// comparePicks reports the keys on which walnut and nutcracker disagree.
func comparePicks(t *testing.T, c *poolCase, keys [][]byte, got []int) {
	t.Helper()
	want, err := c.expect(keys)
	if err != nil {
		t.Errorf("%s: %v", c.Name, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: nutcracker placed %d keys, walnut %d", c.Name, len(got), len(want))
		return
	}
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad < 3 {
				t.Errorf("%s: key %x: nutcracker picked server %d, walnut %d", c.Name, keys[i], got[i], want[i])
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d keys in all placed differently", c.Name, bad)
	}
}

func readRecording(t *testing.T) *recording {
	t.Helper()
	data, err := os.ReadFile(placementsFile)
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestRecordedPlacements needs no nutcracker: it replays what one did.
func TestRecordedPlacements(t *testing.T) {
	r := readRecording(t)
	if len(r.Cases) < 30 {
		t.Fatalf("only %d recorded cases", len(r.Cases))
	}
	for i := range r.Cases {
		c := &r.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			got, err := parsePicks(c.Picks)
			if err != nil {
				t.Fatal(err)
			}
			comparePicks(t, c, c.keys(r.Keys), got)
		})
	}
}
