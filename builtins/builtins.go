// Package builtins links in every protocol, hash function and
// distribution that walnut ships with, as Caddy's modules/standard does:
// a program that imports it for its side effects has them all
// registered by name.
//
//	import _ "github.com/walnutproxy/walnut/builtins"
//
// A custom build that wants fewer imports the packages it keeps instead,
// and one that wants more imports its own beside this one.
package builtins

import (
	_ "github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/ketama"
	_ "github.com/walnutproxy/walnut/distributions/modula"
	_ "github.com/walnutproxy/walnut/distributions/random"
	_ "github.com/walnutproxy/walnut/protocols/memcached"
	_ "github.com/walnutproxy/walnut/protocols/redis"
)
