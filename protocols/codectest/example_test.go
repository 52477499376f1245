package codectest_test

import (
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
	"github.com/walnutproxy/walnut/protocols/memcached"
)

// Check runs the kit outside a test. memcached keeps the contract on
// these cases; a trip that expects another reply than the codec's fails.
func ExampleCheck() {
	c, err := memcached.New(protocols.Options{})
	if err != nil {
		panic(err)
	}
	cases := codectest.Cases{
		Requests: []codectest.Request{
			{In: "get a b\r\n", Want: &codectest.Want{Kind: protocols.Split, Keys: []string{"a", "b"}}},
		},
		Bad:       []string{"set k 0 0 x\r\n"},
		Responses: []codectest.Response{{To: "get k\r\n", In: "VALUE k 0 1\r\nv\r\nEND\r\n"}},
		Trips: []codectest.Trip{
			{Name: "get miss", Request: "get k\r\n", Responses: []string{"END\r\n"}, Reply: "END\r\n"},
		},
	}
	fmt.Println(codectest.Check(c, cases))

	cases.Trips[0].Reply = "NOT_FOUND\r\n"
	fmt.Println(codectest.Check(c, cases))
	// Output:
	// <nil>
	// Trips: trip get miss: reply "END\r\n", want "NOT_FOUND\r\n"
}
