package disttest_test

import (
	"fmt"
	"strings"

	"github.com/walnutproxy/walnut/distributions/disttest"
	"github.com/walnutproxy/walnut/distributions/ketama"
	"github.com/walnutproxy/walnut/distributions/modula"
)

// Check runs the kit outside a test. ketama keeps every promise,
// consistency included; modula keeps the contract but remaps most keys
// when a server comes, so claiming it is consistent fails.
func ExampleCheck() {
	fmt.Println(disttest.Check("ketama", ketama.Ketama{}, disttest.Consistent()))
	fmt.Println(disttest.Check("modula", modula.Modula{}))

	err := disttest.Check("modula", modula.Modula{}, disttest.Consistent())
	fmt.Println(strings.Split(err.Error(), "\n")[0])
	// Output:
	// <nil>
	// <nil>
	// AddServer: 2 to 3 servers: 33.07% of keys moved between servers that were there before, want at most 1%: Pick(0xffffffff) went from 1 to 0
}
