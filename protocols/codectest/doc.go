// Package codectest checks a protocols.Codec against the contract the
// core relies on, in the spirit of testing/fstest: write the codec, list
// some of its own messages, and call TestCodec from one of its tests.
// Redis and memcached use it, and so can any codec: the kit knows
// nothing of a protocol but what the cases say.
//
//	func TestContract(t *testing.T) {
//		codectest.TestCodec(t, codec, codectest.Cases{
//			Requests: []codectest.Request{{In: "get k\r\n", Want: &codectest.Want{Kind: protocols.Split, Keys: []string{"k"}}}},
//			Bad:      []string{"set k 0 0 x\r\n"},
//			Responses: []codectest.Response{{To: "get k\r\n", In: "END\r\n"}},
//			Trips: []codectest.Trip{{Name: "get", Request: "get k\r\n",
//				Responses: []string{"END\r\n"}, Reply: "END\r\n"}},
//		})
//	}
//
//	func FuzzParseRequest(f *testing.F) {
//		codectest.FuzzRequests(f, []protocols.Codec{codec}, nil, "get k\r\n")
//	}
//
// Each check runs as a subtest, named below, so that a failure says
// which promise is broken and -run can select one. Requests counts those
// of the trips too, Responses those of the trips.
//
//   - Requests: each request parses whole, with Raw its bytes and what
//     Want says; every strict prefix is "need more" (0, nil); followed by
//     another request it parses the same; RequestSize (if the codec is a
//     protocols.Sizer) of no prefix is more than its length; AppendRequest,
//     whole and for each key of a Split, only appends (see below).
//   - Pipeline: all the requests back to back, into one reused Request,
//     arriving a byte at a time and then all at once, parse as each does
//     alone.
//   - Reuse: each request parses into a Request that held any other, then
//     was Reset, as into a fresh one.
//   - BadRequests: each gets an error, a *protocols.ProtocolError, with a
//     length of 0 and no panic; every prefix is "need more" or the very
//     same verdict; AppendError answers it, by appending.
//   - Responses: each frames to its length, alone and followed by more,
//     every strict prefix is "need more", and ResponseSize of no prefix is
//     more than its length.
//   - BadResponses: each gets an error without a panic, and every prefix
//     is "need more" or the same verdict.
//   - Trips: each trip runs as the core drives it and the client gets
//     Reply; AppendRequest for each part and AppendReply only append, and
//     AppendReply with any one part failed (and, for a Targeted request,
//     with none) does too, without a panic.
//   - Errors: AppendError answers the errors the core gives it, by
//     appending a reply that carries their text.
//   - NoAllocs: after a first run, ParseRequest of each request and of
//     each bad one, AppendRequest, ParseResponse of each response, and each
//     whole trip allocate nothing (testing.AllocsPerRun), with the Request
//     and buffers reused as the core reuses them.
//   - Concurrent: 4 goroutines share the codec, as a pool's connections
//     do, running every trip 200 times and parsing every request 20 times:
//     each comes out as it does serially. Run with -race, data races show.
//
// "The same verdict" is the same length and the same error: equal, or of
// the same type and text (the client is told the same). An encoder "only
// appends" when, given a dst that holds bytes already, it leaves them as
// they were, in dst and in its result, and appends what it appends to an
// empty one, whatever dst's spare capacity holds.
//
// A codec with sessions (protocols.Sessions) gets one with every parse,
// as from the core: the same new client's, copied through MarshalSession
// and UnmarshalSession, so that a request parses alike wherever it comes.
// A trip keeps its session from run to run, as a client sending the same
// request again does; a trip with a Session runs as that client's.
//
// FuzzRequests and FuzzResponses run the checks that hold for any input
// under go test -fuzz, and on their seeds and testdata/fuzz corpus in
// every go test; a Hook adds the codec's own. The Benchmark functions
// measure the hot paths the way the core calls them.
//
// Check runs TestCodec's checks without a *testing.T and returns what
// fails, for use outside go test. Neither TestCodec nor Check may run in
// a parallel test: testing.AllocsPerRun counts every goroutine's
// allocations.
package codectest
