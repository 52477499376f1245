package integration

import (
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// test_memcache/test_gets.py: the ntest pool with redis: false over two
// memcached, started with nutcracker's flags and -v 4.
func TestTwemproxyMemcache(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	listen := testbed.FreePort(t)
	px := testbed.WalnutNutcracker(t, ntestConf(listen, false, servers, ""), listen, testbed.FreePort(t), "-v", "4")
	mc := memcache.New(px.Addr)
	mc.Timeout = 5e9

	t.Run("basic", func(t *testing.T) {
		if err := mc.Set(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if it, err := mc.Get("k"); err != nil || string(it.Value) != "v" {
			t.Fatalf("get k = %v, %v", it, err)
		}
		mc.Set(&memcache.Item{Key: "key", Value: []byte("1")})
		for i := range 10 {
			if _, err := mc.Increment("key", 1); err != nil {
				t.Fatal(err)
			}
			if it, err := mc.Get("key"); err != nil || string(it.Value) != strconv.Itoa(i+2) {
				t.Fatalf("round %d: get key = %v, %v", i, it, err)
			}
		}
		if err := mc.Delete("key"); err != nil {
			t.Fatal(err)
		}
		if _, err := mc.Get("key"); err != memcache.ErrCacheMiss {
			t.Fatalf("get after delete: %v", err)
		}
	})

	multi := func(t *testing.T, cnt, absent int) {
		t.Helper()
		keys, kv := defaultKV(cnt, "kkk")
		for _, k := range keys {
			if err := mc.Set(&memcache.Item{Key: k, Value: []byte(kv[k])}); err != nil {
				t.Fatal(err)
			}
		}
		all := append([]string{}, keys...)
		for i := range absent {
			all = append(all, fmt.Sprintf("x-%d", i))
		}
		mrand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for range 2 {
			got, err := mc.GetMulti(all)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != cnt {
				t.Fatalf("get_multi found %d keys, want %d", len(got), cnt)
			}
			for k, it := range got {
				if string(it.Value) != kv[k] {
					t.Fatalf("%s = %q, want %q", k, it.Value, kv[k])
				}
			}
		}
		for _, k := range keys {
			if err := mc.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := mc.GetMulti(keys); err != nil || len(got) != 0 {
			t.Fatalf("get_multi after delete = %d keys, %v", len(got), err)
		}
	}
	t.Run("mget_mset", func(t *testing.T) { multi(t, 10, 0) })
	t.Run("mget_mset_large", func(t *testing.T) {
		for cnt := 179; cnt < 1000; cnt += 179 {
			multi(t, cnt, 0)
		}
	})
	t.Run("mget_mset_key_not_exists", func(t *testing.T) { multi(t, 10, 10) })
}
