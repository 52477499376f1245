// Package ketama is nutcracker's consistent-hashing distribution, the one
// pools use unless they say otherwise. Its continuum must match
// nutcracker's point for point (same point count per server, same float
// rounding, same order among equal points), since any difference moves
// keys, and it is rebuilt from the live servers alone, as nutcracker's
// is. Ejecting a server moves only that server's keys as long as the
// others keep their point counts, as they do with equal weights at most
// pool sizes. A count follows a server's share of the live weight,
// rounded in float32, so with unequal weights, or where rounding flips
// (24 equal servers hold 160 points each, 25 hold 156), some of the
// others' keys move too, in nutcracker as here: 2% of all keys from 26
// servers to 25, 12% when the lightest of weights 1, 2, 3, 4 goes.
package ketama
