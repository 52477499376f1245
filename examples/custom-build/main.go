// Command walnut-custom is walnut with one more distribution compiled
// in: rendezvous hashing, beside the usual builtins.
package main

import (
	walnutcmd "github.com/walnutproxy/walnut/cmd"

	_ "github.com/walnutproxy/walnut/builtins"

	_ "github.com/walnutproxy/walnut/examples/custom-build/rendezvous"
)

func main() { walnutcmd.Main() }
