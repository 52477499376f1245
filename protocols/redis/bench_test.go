package redis

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

func BenchmarkParseGET(b *testing.B) { benchParse(b, mb("GET", "key:000001")) }

func BenchmarkParseSET(b *testing.B) {
	benchParse(b, mb("SET", "key:000001", strings.Repeat("v", 100)))
}

func BenchmarkParseMGET10(b *testing.B) {
	benchParse(b, mgetScenario(10, 3).request)
}

func BenchmarkParseInlineGET(b *testing.B) { benchParse(b, "GET key:000001\r\n") }

func BenchmarkParseEVAL(b *testing.B) {
	benchParse(b, mb("EVAL", "return redis.call('get', KEYS[1])", "1", "key:000001"))
}

func BenchmarkMergeMGET10(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	s := mgetScenario(10, 3)
	tr := newTrip(&s)
	tr.run(b, c)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = c.AppendReply(out[:0], &tr.req, tr.parts)
	}
}

func BenchmarkParseResponseBulk(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	buf := appendBulk(nil, []byte(strings.Repeat("v", 100)))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := c.ParseResponse(buf, nil); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseResponseMGET10(b *testing.B) {
	c := newCodec(b, protocols.Options{})
	s := mgetScenario(10, 1)
	buf := []byte(s.replies[0])
	b.ReportAllocs()
	for b.Loop() {
		if n, err := c.ParseResponse(buf, nil); n != len(buf) || err != nil {
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
