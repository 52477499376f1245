// Command walnut is the sharding proxy for Redis and memcached.
package main

import (
	walnutcmd "github.com/walnutproxy/walnut/cmd"

	// Every builtin protocol, hash and distribution. A custom build
	// imports the packages it wants instead, or its own beside these
	// (examples/custom-build).
	_ "github.com/walnutproxy/walnut/builtins"
)

func main() { walnutcmd.Main() }
