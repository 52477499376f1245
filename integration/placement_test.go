package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

var twemproxyHashes = []string{"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64", "fnv1a_64",
	"fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"}

type placementPool struct {
	name, hash, dist, tag string
	ncPort                int
}

// Every key lands on the server nutcracker puts it on, for every hash
// function and both deterministic distributions, with weights, named and
// unnamed servers, and hash tags: walnut can take over servers nutcracker
// filled.
func TestPlacementMatchesNutcracker(t *testing.T) {
	servers := testbed.Redises(t, 4)
	// Named and unnamed servers, names of different lengths, and weights:
	// the name sort (length first) and weight scaling both matter.
	specs := []string{
		servers[0].Addr + ":1 redis-b",
		servers[1].Addr + ":2",
		servers[2].Addr + ":1 r-a",
		servers[3].Addr + ":3",
	}
	var pools []placementPool
	for _, h := range twemproxyHashes {
		for _, d := range []string{"ketama", "modula"} {
			pools = append(pools, placementPool{name: fmt.Sprintf("%s_%s", d, h), hash: h, dist: d})
		}
	}
	pools = append(pools,
		placementPool{name: "tag_ketama", hash: "fnv1a_64", dist: "ketama", tag: "{}"},
		placementPool{name: "tag_modula", hash: "murmur", dist: "modula", tag: "$$"},
		placementPool{name: "tag_md5", hash: "md5", dist: "ketama", tag: "[]"},
	)

	var yaml, toml strings.Builder
	quoted := make([]string, len(specs))
	for i, s := range specs {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	for i := range pools {
		p := &pools[i]
		p.ncPort = testbed.FreePort(t)
		fmt.Fprintf(&yaml, "%s:\n  listen: 127.0.0.1:%d\n  hash: %s\n  distribution: %s\n  redis: true\n", p.name, p.ncPort, p.hash, p.dist)
		fmt.Fprintf(&toml, "[pools.%s]\nlisten = \"127.0.0.1:0\"\nhash = %q\ndistribution = %q\n", p.name, p.hash, p.dist)
		if p.tag != "" {
			fmt.Fprintf(&yaml, "  hash_tag: %q\n", p.tag)
			fmt.Fprintf(&toml, "hash_tag = %q\n", p.tag)
		}
		yaml.WriteString("  servers:\n")
		for _, s := range specs {
			fmt.Fprintf(&yaml, "   - %s\n", s)
		}
		fmt.Fprintf(&toml, "servers = [%s]\n\n", strings.Join(quoted, ", "))
	}
	testbed.Nutcracker(t, yaml.String(), pools[0].ncPort)
	for _, p := range pools[1:] {
		if err := testbed.WaitListening(fmt.Sprintf("127.0.0.1:%d", p.ncPort), 5*time.Second); err != nil {
			t.Fatalf("nutcracker pool %s not listening: %v", p.name, err)
		}
	}
	_, addrs := startWalnut(t, toml.String())
	ds := direct(t, servers)
	ctx := context.Background()

	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			keys := make([]string, 1000)
			for j := range keys {
				switch p.tag {
				case "":
					keys[j] = fmt.Sprintf("%s:key:%d", p.name, j)
				default:
					keys[j] = fmt.Sprintf("%s:%cuser%d%c:%d", p.name, p.tag[0], j%37, p.tag[1], j)
				}
			}
			keys = append(keys, "", "x", strings.Repeat("long", 100))
			if p.tag != "" {
				// nutcracker's edges: an empty tag hashes the whole key,
				// as does an unclosed one; the first opening and the
				// next closing character delimit the tag.
				o, c := string(p.tag[0]), string(p.tag[1])
				for j := range 20 {
					keys = append(keys, fmt.Sprintf("e%d%s%sx", j, o, c), fmt.Sprintf("%s%s%d", o, c, j),
						fmt.Sprintf("open%d%s", j, o), fmt.Sprintf("%s%d", o, j), fmt.Sprintf("%s%su%d%s%s", o, o, j%3, c, c),
						fmt.Sprintf("a%s%d%sb%s%d%s", o, j%2, c, o, j, c), fmt.Sprintf("close%d%s", j, c))
				}
				keys = append(keys, o, c, o+c, c+o)
			}
			// Raw RESP: go-redis opens with HELLO, on which nutcracker
			// closes the connection.
			pipelineSet(t, fmt.Sprintf("127.0.0.1:%d", p.ncPort), keys, "nutcracker")
			pipelineSet(t, addrs[p.name], keys, "walnut")
			// walnut overwrote nutcracker's value wherever they agree; a
			// key placed elsewhere shows up on two servers.
			count := make([]int, len(keys))
			perServer := make([]int, len(ds))
			for i, d := range ds {
				vals, err := d.MGet(ctx, keys...).Result()
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range vals {
					if v != nil {
						count[j]++
						perServer[i]++
						if v != "walnut" {
							t.Errorf("key %q: nutcracker put it on server %d, walnut did not", keys[j], i)
						}
					}
				}
			}
			for j, n := range count {
				if n != 1 {
					t.Errorf("key %q is on %d servers", keys[j], n)
				}
			}
			t.Logf("keys per server: %v", perServer)
			for _, d := range ds {
				d.Del(ctx, keys...)
			}
		})
	}
}

// pipelineSet sets every key to val in one pipelined write.
func pipelineSet(t testing.TB, addr string, keys []string, val string) {
	t.Helper()
	c := dialRaw(t, addr)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(val), val)
	}
	c.send(t, b.String())
	for _, k := range keys {
		if got := c.line(t); got != "+OK\r\n" {
			t.Fatalf("SET %q through %s: %q", k, addr, got)
		}
	}
}

// Memcached pools place keys as nutcracker does too, including its
// naming rule for servers on port 11211 (the host alone, as libmemcached
// does), which only a memcached pool spelled that way exercises.
func TestMemcachedPlacementMatchesNutcracker(t *testing.T) {
	servers := []*testbed.Process{
		testbed.MemcachedAt(t, "127.0.0.2", 11211),
		testbed.MemcachedAt(t, "127.0.0.3", 11211),
		testbed.Memcached(t),
		testbed.MemcachedAt(t, "127.0.0.4", 11211),
	}
	specs := []string{
		servers[0].Addr + ":1",
		servers[1].Addr + ":2",
		servers[2].Addr + ":1",
		servers[3].Addr + ":1 mc-d",
	}
	quoted := make([]string, len(specs))
	for i, s := range specs {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	var pools []placementPool
	for _, h := range twemproxyHashes {
		for _, d := range []string{"ketama", "modula"} {
			pools = append(pools, placementPool{name: fmt.Sprintf("mc_%s_%s", d, h), hash: h, dist: d})
		}
	}
	var yaml, toml strings.Builder
	for i := range pools {
		p := &pools[i]
		p.ncPort = testbed.FreePort(t)
		fmt.Fprintf(&yaml, "%s:\n  listen: 127.0.0.1:%d\n  hash: %s\n  distribution: %s\n  servers:\n", p.name, p.ncPort, p.hash, p.dist)
		for _, s := range specs {
			fmt.Fprintf(&yaml, "   - %s\n", s)
		}
		fmt.Fprintf(&toml, "[pools.%s]\nlisten = \"127.0.0.1:0\"\nprotocol = \"memcached\"\nhash = %q\ndistribution = %q\nservers = [%s]\n\n",
			p.name, p.hash, p.dist, strings.Join(quoted, ", "))
	}
	testbed.Nutcracker(t, yaml.String(), pools[0].ncPort)
	for _, p := range pools[1:] {
		if err := testbed.WaitListening(fmt.Sprintf("127.0.0.1:%d", p.ncPort), 5*time.Second); err != nil {
			t.Fatalf("nutcracker pool %s not listening: %v", p.name, err)
		}
	}
	_, addrs := startWalnut(t, toml.String())
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			keys := make([]string, 500)
			for j := range keys {
				keys[j] = fmt.Sprintf("%s:key:%d", p.name, j)
			}
			mcPipelineSet(t, fmt.Sprintf("127.0.0.1:%d", p.ncPort), keys, "nutcracker")
			mcPipelineSet(t, addrs[p.name], keys, "walnut")
			count := map[string]int{}
			perServer := make([]int, len(servers))
			for i, s := range servers {
				c := dialRaw(t, s.Addr)
				c.send(t, "get "+strings.Join(keys, " ")+"\r\n")
				for {
					l := c.line(t)
					if l == "END\r\n" {
						break
					}
					k := strings.Fields(l)[1]
					if v := c.line(t); v != "walnut\r\n" {
						t.Errorf("key %q: nutcracker put it on server %d, walnut did not", k, i)
					}
					count[k]++
					perServer[i]++
				}
			}
			for _, k := range keys {
				if count[k] != 1 {
					t.Errorf("key %q is on %d servers", k, count[k])
				}
			}
			t.Logf("keys per server: %v", perServer)
		})
	}
}

// mcPipelineSet stores every key with value val in one pipelined write.
func mcPipelineSet(t testing.TB, addr string, keys []string, val string) {
	t.Helper()
	c := dialRaw(t, addr)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "set %s 0 0 %d\r\n%s\r\n", k, len(val), val)
	}
	c.send(t, b.String())
	for _, k := range keys {
		if got := c.line(t); got != "STORED\r\n" {
			t.Fatalf("set %q through %s: %q", k, addr, got)
		}
	}
}
