package distributions

import (
	"slices"
	"strings"
)

// defaultKetamaPort is the port that nutcracker, for compatibility with
// libmemcached's ketama, leaves out of a server's default name.
const defaultKetamaPort = 11211

// DefaultName returns the name nutcracker gives a server configured
// without one, which is what placement hashes. For "host:port" it is
// "host:port", or "host" alone when the port is 11211 (leading zeros
// allowed: "host:011211" is also "host"). For a unix socket path it is the
// path followed by a colon: nutcracker takes the name as the address plus
// one separator plus the port, and a socket has an empty port, so the
// colon before the weight in "/path:weight" stays in the name.
func DefaultName(addr string) string {
	if strings.HasPrefix(addr, "/") {
		return addr + ":"
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	if port, ok := atoi(addr[i+1:]); ok && port == defaultKetamaPort {
		return addr[:i]
	}
	return addr
}

// atoi parses digits only, as nutcracker's nc_atoi does.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// SortServers puts a pool's servers in nutcracker's order, which decides
// modula's slots and ketama's tie-breaks and is the order Pick's indexes
// refer to: nutcracker sorts by name, shorter names first and names of
// equal length bytewise, so "10.0.0.9:6379" precedes "10.0.0.10:6379".
// The sort is stable, like glibc's qsort in practice; duplicate names are
// a configuration error anyway.
func SortServers(servers []Server) {
	slices.SortStableFunc(servers, func(a, b Server) int { return CompareNames(a.Name, b.Name) })
}

// CompareNames is nutcracker's string_compare: length first, then
// strncmp, which compares unsigned bytes and stops at a NUL.
func CompareNames(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	for i := 0; i < len(a); i++ {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		case a[i] == 0:
			return 0
		}
	}
	return 0
}
