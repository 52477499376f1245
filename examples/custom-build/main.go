// Command walnut-custom is walnut with one more distribution compiled
// in: rendezvous hashing, beside the usual builtins.
package main

import (
	walnutcmd "github.com/walnutproxy/walnut/cmd"

	_ "github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/ketama"
	_ "github.com/walnutproxy/walnut/distributions/modula"
	_ "github.com/walnutproxy/walnut/distributions/random"
	_ "github.com/walnutproxy/walnut/protocols/memcached"
	_ "github.com/walnutproxy/walnut/protocols/redis"

	_ "github.com/walnutproxy/walnut/examples/custom-build/rendezvous"
)

func main() { walnutcmd.Main() }
