package memcached

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func benchParse(b *testing.B, in string) {
	c := newCodec(b, protocols.Options{})
	buf := []byte(in)
	var req protocols.Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		if n, err := c.ParseRequest(buf, &req); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseGet(b *testing.B) { benchParse(b, "get key:000001\r\n") }

func BenchmarkParseSet(b *testing.B) {
	benchParse(b, "set key:000001 0 0 100\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkParseSetNoreply(b *testing.B) {
	benchParse(b, "set key:000001 0 0 100 noreply\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkParseGet100Keys(b *testing.B) { benchParse(b, getScenario(100, 1).request) }

func BenchmarkParseMg(b *testing.B) { benchParse(b, "mg key:000001 v f t O123\r\n") }

func BenchmarkMergeGet10(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	s := getScenario(10, 3)
	tr := newTrip(&s)
	tr.run(b, c)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = c.AppendReply(out[:0], &tr.req, tr.parts)
	}
}

func BenchmarkMergeGet100(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	s := getScenario(100, 5)
	tr := newTrip(&s)
	tr.run(b, c)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = c.AppendReply(out[:0], &tr.req, tr.parts)
	}
}

func BenchmarkParseResponseValue(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	buf := []byte(val("key:000001", strings.Repeat("v", 100)) + "END\r\n")
	req := &protocols.Request{Cmd: cmdGet}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := c.ParseResponse(buf, req); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseResponse100Values(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	buf := []byte(getScenario(100, 1).responses[0])
	req := &protocols.Request{Cmd: cmdGet}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := c.ParseResponse(buf, req); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkTrip runs each scenario's whole trip through the codec.
func BenchmarkTrip(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	for i := range scenarios {
		tr := newTrip(&scenarios[i])
		b.Run(tr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tr.run(b, c)
			}
		})
	}
}
