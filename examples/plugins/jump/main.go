// Command jump is an external distribution for walnut: jump consistent
// hashing (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash
// Algorithm", 2014) with weights, served as a plugin. See README.md.
package main

import (
	"flag"

	"github.com/walnutproxy/walnut/plugins/sdk"
)

func main() {
	buckets := flag.Int("buckets", 65536, "table size, a power of two up to 2^24")
	flag.Parse()
	sdk.ServeDistribution(Jump{Buckets: *buckets})
}
