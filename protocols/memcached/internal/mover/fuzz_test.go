package mover

import "testing"

// FuzzParseMetadump feeds lines of memcached's LRU crawler dump to their
// parser: it must never panic, and a key it returns is not empty.
func FuzzParseMetadump(f *testing.F) {
	f.Add("key=a%20b exp=-1 la=1 cas=2 fetch=no cls=1 size=64")
	f.Add("key= size=x")
	f.Add("key=%zz size=9999999999999999999")
	f.Fuzz(func(t *testing.T, line string) {
		if key, _, err := parseMetadump(line); err == nil && len(key) == 0 {
			t.Fatalf("%q: empty key and no error", line)
		}
	})
}
