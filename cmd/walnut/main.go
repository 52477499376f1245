// Command walnut is the sharding proxy for Redis and memcached.
package main

import (
	walnutcmd "github.com/walnutproxy/walnut/cmd"

	// The builtins: remove one to leave it out, add your own beside them.
	_ "github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/ketama"
	_ "github.com/walnutproxy/walnut/distributions/modula"
	_ "github.com/walnutproxy/walnut/distributions/random"
	_ "github.com/walnutproxy/walnut/protocols/memcached"
	_ "github.com/walnutproxy/walnut/protocols/redis"
)

func main() { walnutcmd.Main() }
