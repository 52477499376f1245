package memcached

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

func BenchmarkParseGet(b *testing.B) { benchParse(b, "get key:000001\r\n") }

func BenchmarkParseSet(b *testing.B) {
	benchParse(b, "set key:000001 0 0 100\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkParseSetNoreply(b *testing.B) {
	benchParse(b, "set key:000001 0 0 100 noreply\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkParseGet100Keys(b *testing.B) { benchParse(b, getTrip(100, 1).Request) }

func BenchmarkParseMg(b *testing.B) { benchParse(b, "mg key:000001 v f t O123\r\n") }

func BenchmarkMergeGet10(b *testing.B) {
	codectest.BenchmarkReply(b, newCodec(b, protocols.Options{}), getTrip(10, 3))
}

func BenchmarkMergeGet100(b *testing.B) {
	codectest.BenchmarkReply(b, newCodec(b, protocols.Options{}), getTrip(100, 5))
}

func benchResponse(b *testing.B, resp string) {
	codectest.BenchmarkParseResponse(b, newCodec(b, protocols.Options{}), cmdRequests[cmdGet], resp)
}

func BenchmarkParseResponseValue(b *testing.B) {
	benchResponse(b, val("key:000001", strings.Repeat("v", 100))+"END\r\n")
}

func BenchmarkParseResponse100Values(b *testing.B) { benchResponse(b, getTrip(100, 1).Responses[0]) }

// BenchmarkTrip runs each trip whole through the codec.
func BenchmarkTrip(b *testing.B) {
	codectest.BenchmarkTrips(b, newCodec(b, protocols.Options{}), trips)
}
