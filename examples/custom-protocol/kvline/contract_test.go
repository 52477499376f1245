package kvline

import (
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// TestContract runs walnut's conformance kit for codecs on the tables of
// codec_test.go: what every codec must do, whatever its protocol. It
// runs once on a codec with the defaults, and once on one with small
// limits, for the messages that reach them.
func TestContract(t *testing.T) {
	cases := codectest.Cases{Bad: badRequests, Responses: responses, BadResponses: badResponses, Trips: trips}
	for _, tc := range requests {
		cases.Requests = append(cases.Requests, codectest.Request{In: tc.in,
			Want: &codectest.Want{Kind: tc.kind, Keys: tc.keys, Reply: tc.reply, Close: tc.close}})
	}
	t.Run("defaults", func(t *testing.T) {
		codectest.TestCodec(t, newCodec(t, protocols.Options{}), cases)
	})
	t.Run("limits", func(t *testing.T) {
		codectest.TestCodec(t, newCodec(t, limits), limited)
	})
}

// BenchmarkTrips measures each trip's whole way through the codec, as
// the core drives it: go test -bench Trips -run '^$'.
func BenchmarkTrips(b *testing.B) {
	codectest.BenchmarkTrips(b, newCodec(b, protocols.Options{}), trips)
}
