//go:build linux

package core

import (
	"testing"
)

func TestHashTagged(t *testing.T) {
	cases := []struct{ key, tag, want string }{
		{"user:{42}:name", "{}", "42"},
		{"{42}", "{}", "42"},
		{"no-tag", "{}", "no-tag"},
		{"empty:{}:x", "{}", "empty:{}:x"}, // empty tag: whole key
		{"open:{only", "{}", "open:{only"}, // no closing: whole key
		{"a}b{c}d", "{}", "c"},             // first opening, then next closing
		{"x{a{b}c}", "{}", "a{b"},          // first opening wins
		{"$abc$def", "$$", "abc"},          // same character twice
		{"k$$z", "$$", "k$$z"},             // empty between identical chars
		{"{}{x}", "{}", "{}{x}"},           // first pair empty: whole key, as nutcracker does
	}
	for _, c := range cases {
		got := string(hashTagged([]byte(c.key), [2]byte{c.tag[0], c.tag[1]}))
		if got != c.want {
			t.Errorf("hashTagged(%q, %q) = %q, want %q", c.key, c.tag, got, c.want)
		}
	}
}

func TestFIFO(t *testing.T) {
	var q fifo
	frags := make([]fragment, 300)
	next, pushed := 0, 0
	// Interleave pushes and pops across several growths and wraps.
	for round := range 5 {
		for i := 0; i < 40+round*30; i++ {
			q.push(&frags[pushed%len(frags)])
			pushed++
		}
		for i := 0; i < 30+round*25; i++ {
			want := &frags[next%len(frags)]
			if q.peek() != want {
				t.Fatalf("round %d: peek is not the oldest", round)
			}
			if q.pop() != want {
				t.Fatalf("round %d: pop out of order", round)
			}
			next++
		}
	}
	rest := q.drain(nil)
	if q.len() != 0 || q.pop() != nil || q.peek() != nil {
		t.Fatal("queue not empty after drain")
	}
	for i, f := range rest {
		if f != &frags[(next+i)%len(frags)] {
			t.Fatalf("drain out of order at %d", i)
		}
	}
}

// Parts grow one at a time past every capacity step, and a second round
// reuses the first one's storage.
func TestAddPartReusesStorage(t *testing.T) {
	var s slot
	for round := range 2 {
		s.parts = s.parts[:0]
		for i := range 10 {
			j := s.addPart(i * 3)
			if j != i || s.servers[j] != i*3 || len(s.parts[j].Keys) != 0 {
				t.Fatalf("round %d: addPart(%d) = %d, servers %v", round, i*3, j, s.servers)
			}
			s.parts[j].Keys = append(s.parts[j].Keys, int32(i), int32(i+1))
			s.keyBufs[j] = s.parts[j].Keys[:0]
		}
		if round == 1 {
			allocs := testing.AllocsPerRun(10, func() {
				s.parts = s.parts[:0]
				for i := range 10 {
					j := s.addPart(i)
					s.parts[j].Keys = append(s.parts[j].Keys, 1, 2)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations in a warm round", allocs)
			}
		}
	}
}
