// Package ketama is nutcracker's consistent-hashing distribution, the one
// pools use unless they say otherwise. Its continuum must match
// nutcracker's point for point (same point count per server, same float
// rounding, same order among equal points), since any difference moves
// keys, and it is rebuilt from the live servers alone, so ejecting a
// server moves only that server's keys.
package ketama
