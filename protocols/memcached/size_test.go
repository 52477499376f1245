package memcached

import "testing"

func TestSizes(t *testing.T) {
	c := &Codec{}
	reqs := []struct {
		buf  string
		want int
	}{
		{"set k 0 0 100\r\nxx", 15 + 102},
		{"cas k 0 0 100 7 noreply\r\n", 25 + 102},
		{"ms k 100 T0\r\n", 13 + 102},
		{"set k 0 0 10", 0},
		{"get k\r\n", 0},
		{"set k 0 0 x\r\n", 0},
	}
	for _, tc := range reqs {
		if got := c.RequestSize([]byte(tc.buf)); got != tc.want {
			t.Errorf("RequestSize(%q) = %d, want %d", tc.buf, got, tc.want)
		}
	}
	resps := []struct {
		buf  string
		want int
	}{
		{"VALUE a 0 2\r\nab\r\nVALUE b 0 100\r\nx", 17 + 15 + 102},
		{"VA 100 f0\r\n", 11 + 102},
		{"VALUE a 0 2\r\nab\r\nEND\r\n", 0},
		{"STORED\r\n", 0},
		{"VALUE a 0", 0},
	}
	for _, tc := range resps {
		if got := c.ResponseSize([]byte(tc.buf)); got != tc.want {
			t.Errorf("ResponseSize(%q) = %d, want %d", tc.buf, got, tc.want)
		}
	}
}
