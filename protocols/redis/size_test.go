package redis

import (
	"strings"
	"testing"
)

func TestAtLeast(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name, buf string
		want      int
	}{
		{"empty", "", 0},
		{"partial header", "$10", 0},
		{"bulk cut", "$100\r\nxx", 6 + 102},
		{"bulk whole", "$3\r\nabc\r\n", 0},
		{"request cut in its value", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + big[:10], 20 + 6 + 102},
		{"request cut after a header", "*3\r\n$3\r\nSET\r\n", 0},
		{"array with nil and lines", "*4\r\n$-1\r\n:1\r\n+OK\r\n$100\r\nx", 18 + 6 + 102},
		{"nested", "*2\r\n*1\r\n$2\r\nab\r\n$100\r\n", 16 + 6 + 102},
		{"line cut", "*2\r\n+O", 0},
		{"inline", "GET k\r\n", 0},
		{"not resp", "?", 0},
	}
	for _, tc := range tests {
		if got := atLeast([]byte(tc.buf)); got != tc.want {
			t.Errorf("%s: atLeast(%q) = %d, want %d", tc.name, tc.buf, got, tc.want)
		}
	}
}

// A response on a dedicated connection may be several values: the ones
// the buffer holds whole are stepped over.
func TestResponseSizeSeveralValues(t *testing.T) {
	var c Codec
	tests := []struct {
		name, buf string
		want      int
	}{
		{"one value cut", "$100\r\nxx", 6 + 102},
		{"MULTI's +OK, then EXEC's array cut", "+OK\r\n*1\r\n$100\r\nx", 5 + 4 + 6 + 102},
		{"confirmation, then a message cut",
			"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$100\r\nx",
			31 + 4 + 13 + 8 + 6 + 102},
		{"whole values only", "+OK\r\n:1\r\n", 0},
		{"whole, then a header cut", "+OK\r\n$10", 0},
		{"whole, then not resp", "+OK\r\n?", 0},
	}
	for _, tc := range tests {
		if got := c.ResponseSize([]byte(tc.buf)); got != tc.want {
			t.Errorf("%s: ResponseSize(%q) = %d, want %d", tc.name, tc.buf, got, tc.want)
		}
	}
}
