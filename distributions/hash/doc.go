// Package hash provides nutcracker's twelve key hash functions under the
// names its configuration uses, and registers them with distributions.
//
// Each function reproduces twemproxy 0.5 bit for bit on x86-64, including
// its deviations from the published algorithms: a proxy that disagrees
// with nutcracker on a single key sends that key to the wrong shard. Where
// the C reads the key through a signed char, a byte of 0x80 or more
// enters the hash sign-extended, and these functions do the same.
package hash
