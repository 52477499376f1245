package memcached

import (
	"fmt"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// getTrip is a get of n keys over nparts servers, every third key a
// miss.
func getTrip(n, nparts int) codectest.Trip {
	tr := codectest.Trip{Name: fmt.Sprintf("get%d/%d parts", n, nparts), Parts: make([][]int32, nparts)}
	keys := make([]string, n)
	resps := make([]strings.Builder, nparts)
	var reply strings.Builder
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%06d", i)
		p := i % nparts
		tr.Parts[p] = append(tr.Parts[p], int32(i))
		if i%3 != 2 {
			v := val(keys[i], fmt.Sprintf("value-for-key-%06d", i))
			resps[p].WriteString(v)
			reply.WriteString(v)
		}
	}
	for p := range resps {
		resps[p].WriteString("END\r\n")
		tr.Responses = append(tr.Responses, resps[p].String())
	}
	tr.Request = "get " + strings.Join(keys, " ") + "\r\n"
	tr.Reply = reply.String() + "END\r\n"
	return tr
}

// trips are requests' whole ways through the codec, for the kit and
// BenchmarkTrip.
var trips = []codectest.Trip{
	{Name: "get", Request: "get key:000001\r\n", Responses: []string{val("key:000001", "value-for-key-01") + "END\r\n"},
		Reply: val("key:000001", "value-for-key-01") + "END\r\n"},
	{Name: "get miss", Request: "get key:000001\r\n", Responses: []string{"END\r\n"}, Reply: "END\r\n"},
	{Name: "gets", Request: "gets key:000001\r\n", Responses: []string{"VALUE key:000001 0 2 1234\r\nab\r\nEND\r\n"},
		Reply: "VALUE key:000001 0 2 1234\r\nab\r\nEND\r\n"},
	{Name: "set", Request: "set key:000001 0 0 16\r\nvalue-for-key-01\r\n", Responses: []string{"STORED\r\n"}, Reply: "STORED\r\n"},
	{Name: "set noreply", Request: "set key:000001 0 0 16 noreply\r\nvalue-for-key-01\r\n", Responses: []string{"STORED\r\n"}, NoReply: true},
	{Name: "cas", Request: "cas key:000001 0 0 1 99\r\nx\r\n", Responses: []string{"EXISTS\r\n"}, Reply: "EXISTS\r\n"},
	{Name: "delete", Request: "delete key:000001\r\n", Responses: []string{"DELETED\r\n"}, Reply: "DELETED\r\n"},
	{Name: "incr", Request: "incr key:000001 5\r\n", Responses: []string{"15\r\n"}, Reply: "15\r\n"},
	{Name: "touch", Request: "touch key:000001 10\r\n", Responses: []string{"TOUCHED\r\n"}, Reply: "TOUCHED\r\n"},
	{Name: "mg", Request: "mg key:000001 v f O123\r\n", Responses: []string{"VA 2 f0 O123\r\nab\r\n"}, Reply: "VA 2 f0 O123\r\nab\r\n"},
	{Name: "mg quiet miss", Request: "mg key:000001 q v O123\r\n", Responses: []string{"EN O123\r\n"}, NoReply: true},
	{Name: "ms", Request: "ms key:000001 2 T0 F5\r\nab\r\n", Responses: []string{"HD\r\n"}, Reply: "HD\r\n"},
	{Name: "ms quiet", Request: "ms key:000001 2 q\r\nab\r\n", Responses: []string{"HD\r\n"}, NoReply: true},
	{Name: "md", Request: "md key:000001\r\n", Responses: []string{"NF\r\n"}, Reply: "NF\r\n"},
	{Name: "ma", Request: "ma key:000001 v\r\n", Responses: []string{"VA 1\r\n1\r\n"}, Reply: "VA 1\r\n1\r\n"},
	getTrip(10, 3),
	getTrip(100, 5),
	{Name: "version", Request: "version\r\n", Responses: []string{"VERSION 1.6.18\r\n"}, Reply: "VERSION 1.6.18\r\n"},
	{Name: "mn", Request: "mn\r\n", Reply: "MN\r\n"},
	{Name: "unknown", Request: "bogus\r\n", Reply: "ERROR\r\n"},
	{Name: "bad key", Request: "get a\rb\r\n", Reply: replyBadFormat},
}

// cmdRequests are requests of each command, for the responses to it.
var cmdRequests = map[uint16]string{
	cmdGet:     "get a\r\n",
	cmdGets:    "gets a\r\n",
	cmdGat:     "gat 0 a\r\n",
	cmdSet:     "set a 0 0 1\r\nx\r\n",
	cmdAdd:     "add a 0 0 1\r\nx\r\n",
	cmdCas:     "cas a 0 0 1 1\r\nx\r\n",
	cmdIncr:    "incr a 1\r\n",
	cmdDecr:    "decr a 1\r\n",
	cmdDelete:  "delete a\r\n",
	cmdTouch:   "touch a 0\r\n",
	cmdMg:      "mg a v\r\n",
	cmdMs:      "ms a 1\r\nx\r\n",
	cmdMd:      "md a\r\n",
	cmdMa:      "ma a\r\n",
	cmdVersion: "version\r\n",
	// A zero Request: no command walnut forwards.
	cmdNone: "",
}

// optionsKey tells apart the pool options the tables use, so that the
// kit runs once per codec.
type optionsKey struct {
	MaxRequestSize, MaxValueSize int
	Own                          Options
}

// TestContract runs the codec kit on the tables of the parse, response
// and trip tests, once per set of options they use.
func TestContract(t *testing.T) {
	var keys []optionsKey
	opts := map[optionsKey]protocols.Options{}
	cases := map[optionsKey]*codectest.Cases{}
	of := func(o protocols.Options) *codectest.Cases {
		k := optionsKey{o.MaxRequestSize, o.MaxValueSize, *OptionsOf(o.Own)}
		if cases[k] == nil {
			keys = append(keys, k)
			opts[k], cases[k] = o, &codectest.Cases{}
		}
		return cases[k]
	}
	of(protocols.Options{}).Trips = trips
	for _, tc := range validRequests {
		c := of(protocols.Options{})
		c.Requests = append(c.Requests, codectest.Request{In: tc.in, Want: &codectest.Want{Kind: tc.kind, Keys: tc.keys, Reply: tc.reply, Close: tc.close}})
	}
	for _, tc := range badRequests {
		c := of(tc.opts)
		if tc.err != nil {
			c.Bad = append(c.Bad, tc.in)
			continue
		}
		// Answered locally, the connection kept.
		c.Requests = append(c.Requests, codectest.Request{In: tc.in, Want: &codectest.Want{Kind: protocols.Local, Reply: tc.reply}})
	}
	for _, tc := range validResponses {
		c := of(protocols.Options{})
		c.Responses = append(c.Responses, codectest.Response{To: cmdRequests[tc.cmd], In: tc.resp, Len: tc.n})
	}
	for _, tc := range badResponses {
		c := of(tc.opts)
		c.BadResponses = append(c.BadResponses, codectest.Response{To: cmdRequests[tc.cmd], In: tc.resp})
	}
	for _, k := range keys {
		t.Run(fmt.Sprintf("%+v", k), func(t *testing.T) {
			codectest.TestCodec(t, newCodec(t, opts[k]), *cases[k])
		})
	}
}
