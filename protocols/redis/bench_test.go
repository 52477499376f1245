package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// docs/performance.md quotes these benchmarks by name.

func benchParse(b *testing.B, in string) {
	codectest.BenchmarkParseRequest(b, newCodec(b, protocols.Options{}), in)
}

func BenchmarkParseGET(b *testing.B) { benchParse(b, mb("GET", "key:000001")) }

func BenchmarkParseSET(b *testing.B) {
	benchParse(b, mb("SET", "key:000001", strings.Repeat("v", 100)))
}

func BenchmarkParseMGET10(b *testing.B) { benchParse(b, mgetTrip(10, 3).Request) }

func BenchmarkParseInlineGET(b *testing.B) { benchParse(b, "GET key:000001\r\n") }

func BenchmarkParseEVAL(b *testing.B) {
	benchParse(b, mb("EVAL", "return redis.call('get', KEYS[1])", "1", "key:000001"))
}

func BenchmarkMergeMGET10(b *testing.B) {
	codectest.BenchmarkReply(b, newCodec(b, protocols.Options{}), mgetTrip(10, 3))
}

func BenchmarkParseResponseBulk(b *testing.B) {
	codectest.BenchmarkParseResponse(b, newCodec(b, protocols.Options{}), "", string(appendBulk(nil, []byte(strings.Repeat("v", 100)))))
}

func BenchmarkParseResponseMGET10(b *testing.B) {
	codectest.BenchmarkParseResponse(b, newCodec(b, protocols.Options{}), "", mgetTrip(10, 1).Responses[0])
}

// BenchmarkTrip runs each trip whole through the codec.
func BenchmarkTrip(b *testing.B) {
	codectest.BenchmarkTrips(b, newCodec(b, protocols.Options{}), trips)
}
