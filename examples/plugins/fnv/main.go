// Command fnv is an external hash function for walnut: 32-bit FNV-1a,
// served as a plugin. It computes what the builtin fnv1a_32 does, which
// makes it the example to measure what hashing in another process costs
// (docs/plugins.md) and to check that keys land where its function says.
package main

import "github.com/walnutproxy/walnut/plugins/sdk"

func main() { sdk.ServeHash(FNV1a32{}) }

// FNV1a32 is FNV-1a over 32 bits: offset basis 2166136261, prime
// 16777619.
type FNV1a32 struct{}

// Hash hashes a batch of keys; walnut sends it those of one event-loop
// iteration at once.
func (FNV1a32) Hash(keys [][]byte, out []uint32) error {
	for i, k := range keys {
		h := uint32(2166136261)
		for _, c := range k {
			h = (h ^ uint32(c)) * 16777619
		}
		out[i] = h
	}
	return nil
}
