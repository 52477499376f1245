package main

import (
	walnutcmd "github.com/walnutproxy/walnut/cmd"

	// Every builtin protocol, hash and distribution, as cmd/walnut has.
	_ "github.com/walnutproxy/walnut/builtins"

	// kvline registers itself from init: the import is all it takes.
	_ "github.com/walnutproxy/walnut/examples/custom-protocol/kvline"
)

func main() { walnutcmd.Main() }
