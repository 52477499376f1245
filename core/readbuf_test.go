//go:build linux

package core

import (
	"testing"

	"github.com/walnutproxy/walnut/config"
)

// WithReadBufferSize (nutcracker's -m) sizes the buffers the loops lend
// clients, and lending one stays free of allocations.
func TestReadBufferSize(t *testing.T) {
	for _, c := range []struct{ opt, want int }{{0, clientBufSize}, {512, 512}, {100, 512}, {1 << 20, 1 << 20}} {
		var opts []Option
		if c.opt != 0 {
			opts = append(opts, WithReadBufferSize(c.opt))
		}
		px, err := New(&config.Config{Workers: 2}, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := px.Start(); err != nil {
			t.Fatal(err)
		}
		for _, l := range px.loops {
			done := make(chan struct{})
			var size int
			var allocs float64
			l.post(func() {
				defer close(done)
				b := l.getBuf()
				size = len(b)
				l.putBuf(b)
				allocs = testing.AllocsPerRun(100, func() { l.putBuf(l.getBuf()) })
			})
			<-done
			if size != c.want || allocs != 0 {
				t.Errorf("WithReadBufferSize(%d): buffer of %d bytes, want %d; %v allocations", c.opt, size, c.want, allocs)
			}
		}
		px.Close()
	}
}
