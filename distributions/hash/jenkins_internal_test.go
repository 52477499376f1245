package hash

import "testing"

// TestLookup3Published checks the generic lookup3 against the values Bob
// Jenkins' own driver prints, so Jenkins (initval 13) rests on a published
// reference and not only on the golden file.
func TestLookup3Published(t *testing.T) {
	const four = "Four score and seven years ago"
	tests := []struct {
		key     string
		initval uint32
		want    uint32
	}{
		{"", 0, 0xdeadbeef},
		{"", 0xdeadbeef, 0xbd5b7dde},
		{four, 0, 0x17770551},
		{four, 1, 0xcd628161},
	}
	for _, tt := range tests {
		if got := lookup3([]byte(tt.key), tt.initval); got != tt.want {
			t.Errorf("lookup3(%q, %#x) = %08x, want %08x", tt.key, tt.initval, got, tt.want)
		}
	}
}
