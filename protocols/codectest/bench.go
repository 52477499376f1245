package codectest

import (
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// The benchmarks reuse the Request and buffers as the core does, and
// report allocations, so that a codec's benchmarks of its hot paths are a
// line each and measure alike.

func benchSuite(b *testing.B, c protocols.Codec) *suite {
	b.Helper()
	s, err := newSuite(c, Cases{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkParseRequest measures ParseRequest of in, one whole request,
// and reports its bytes per operation.
func BenchmarkParseRequest(b *testing.B, c protocols.Codec, in string) {
	b.Helper()
	req := benchSuite(b, c).request()
	buf := []byte(in)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		if n, err := c.ParseRequest(buf, req); n != len(buf) || err != nil {
			b.Fatalf("ParseRequest(%s) = (%d, %v), want the whole %d bytes", quote(in), n, err, len(buf))
		}
	}
}

// BenchmarkParseResponse measures ParseResponse of in, one whole response
// to the request to ("" for a zero protocols.Request, as in Response),
// and reports its bytes per operation.
func BenchmarkParseResponse(b *testing.B, c protocols.Codec, to, in string) {
	b.Helper()
	req, ok := benchSuite(b, c).requestFor(b, to)
	if !ok {
		b.FailNow()
	}
	buf := []byte(in)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := c.ParseResponse(buf, req); n != len(buf) || err != nil {
			b.Fatalf("ParseResponse(%s) = (%d, %v), want the whole %d bytes", quote(in), n, err, len(buf))
		}
	}
}

// BenchmarkReply measures AppendReply alone for the trip's parts: the
// merge of a Split request's responses, say.
func BenchmarkReply(b *testing.B, c protocols.Codec, tr Trip) {
	b.Helper()
	t := benchSuite(b, c).newTripRun(&tr)
	if _, ok := t.try(b); !ok {
		b.FailNow()
	}
	b.ReportAllocs()
	for b.Loop() {
		t.out = c.AppendReply(t.out[:0], &t.req, t.parts)
	}
}

// BenchmarkTrips measures each trip's whole way through the codec (parse,
// a request per part, a response per part, the reply), each a
// sub-benchmark named after the trip.
func BenchmarkTrips(b *testing.B, c protocols.Codec, trips []Trip) {
	b.Helper()
	s := benchSuite(b, c)
	for i := range trips {
		t := s.newTripRun(&trips[i])
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := t.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
