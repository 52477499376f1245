package mover

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadValue feeds server replies to the mover's RESP reader: it must
// never panic, nor allocate what a header claims before the bytes are
// there.
func FuzzReadValue(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", "$9999999999\r\n", "*99999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 4 {
			if _, err := readValue(r); err != nil {
				return
			}
		}
	})
}

func TestReadValueRefusesBrokenReplies(t *testing.T) {
	for _, s := range []string{
		"$9999999999\r\n",        // beyond Redis' own bulk bound
		"$3\r\nabcde\r\n",        // the bulk's length is wrong
		"$5\r\nab\r\n",           // cut short
		"*99999999999\r\n:1\r\n", // claims more elements than come
	} {
		if v, err := readValue(bufio.NewReader(bytes.NewReader([]byte(s)))); err == nil {
			t.Errorf("%q: read %+v, want an error", s, v)
		}
	}
	v, err := readValue(bufio.NewReader(bytes.NewReader([]byte("*2\r\n$1\r\na\r\n$-1\r\n"))))
	if err != nil || len(v.a) != 2 || string(v.a[0].s) != "a" || !v.a[1].null {
		t.Fatalf("array: %+v, %v", v, err)
	}
}
