package integration

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// Functions and scripts for RESP3 clients: what walnut relays, merges or
// builds comes in the forms one redis-server 7.0 sends a client that
// said HELLO 3, byte for byte.

// roScript is a script without keys that cannot write, whose reply is a
// map: a RESP3 client gets a map, a RESP2 one a flat array.
const roScript = "#!lua flags=no-writes\nreturn {map={a=ARGV[1]}}"

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// functionsResp3Script are the calls compared. FUNCTION DUMP is left
// out: a dump is a serialization of hash tables, not the same bytes from
// two servers.
var functionsResp3Script = [][]string{
	{"HELLO", "3"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "LOAD", libCode},
	{"FUNCTION", "LOAD", libCode},
	{"FUNCTION", "LOAD", "REPLACE", libCode},
	{"FUNCTION", "LIST"},
	{"FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "walnut*"},
	{"FUNCTION", "LIST", "LIBRARYNAME", "nope*"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "KILL"},
	{"SCRIPT", "KILL"},
	{"FCALL", "setget", "1", "fk", "v"},
	{"FCALL_RO", "get", "1", "fk"},
	{"FCALL_RO", "get", "1", "nokey"},
	{"FCALL", "hello", "0", "z"},
	{"FCALL_RO", "hello", "0", "z"},
	{"FCALL", "nosuch", "0"},
	{"FCALL", "hello", "x"},
	{"SCRIPT", "LOAD", roScript},
	{"SCRIPT", "EXISTS", sha1Hex(roScript), "0000000000000000000000000000000000000000"},
	{"EVALSHA", sha1Hex(roScript), "0", "x"},
	{"EVALSHA_RO", sha1Hex(roScript), "0", "y"},
	{"EVALSHA", "0000000000000000000000000000000000000000", "0"},
	{"EVAL", roScript, "0", "e"},
	{"EVAL", "#!lua flags=no-writes\nreturn {double=1.5}", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn true", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn nil", "0"},
	{"EVAL_RO", "return {map={b=1}}", "0"},
	{"EVAL", "return 1", "x"},
	// A blocking command leaves a dedicated connection in RESP3, which
	// KILL and STATS may take next, in either protocol.
	{"BLPOP", "nolist", "0.01"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "HELP"},
	{"SCRIPT", "HELP"},
	{"FUNCTION", "DELETE", "nosuch"},
	{"FUNCTION", "RESTORE", "not a dump"},
	{"HELLO", "2"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "LIST"},
	{"EVAL", roScript, "0", "e"},
	{"HELLO", "3"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "DELETE", "walnutlib"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "FLUSH"},
	{"SCRIPT", "FLUSH"},
	{"SCRIPT", "EXISTS", sha1Hex(roScript)},
}

// TestFunctionsResp3LikeRedis: with one server and with three, a RESP3
// client's functions and scripts get what one redis-server sends it.
func TestFunctionsResp3LikeRedis(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" servers", func(t *testing.T) {
			_, addr := redisWalnut(t, n, "p", "")
			ref := testbed.Redis(t)
			w, r := dialRaw(t, addr), dialRaw(t, ref.Addr)
			for _, args := range functionsResp3Script {
				got, want := w.call(t, args...), r.call(t, args...)
				switch {
				case args[0] == "HELLO":
					got, want = helloID.ReplaceAllString(got, "id"), helloID.ReplaceAllString(want, "id")
				case args[0] == "FUNCTION" && args[1] == "LIST":
					got, want = functionsSorted(t, got), functionsSorted(t, want)
				}
				if got != want {
					t.Errorf("%q:\n walnut       %q\n redis-server %q", args, show(got), show(want))
				}
			}
		})
	}
}

// functionsSorted returns a FUNCTION LIST reply with each library's
// functions in the order of their names: a server lists them in the
// order of its hash table, whose seed is its own.
func functionsSorted(t testing.TB, reply string) string {
	t.Helper()
	var read func(r *bufio.Reader) string
	read = func(r *bufio.Reader) string {
		line, err := r.ReadString('\n')
		if err != nil || len(line) < 3 {
			t.Fatalf("reading %q: %v", reply, err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		switch line[0] {
		case '$', '=':
			if n < 0 {
				return line
			}
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				t.Fatalf("reading %q: %v", reply, err)
			}
			return line + string(b)
		case '*', '%', '~':
			if line[0] == '%' {
				n *= 2
			}
			elems := make([]string, max(n, 0))
			named := true
			for i := range elems {
				elems[i] = read(r)
				named = named && (strings.HasPrefix(elems[i], "%3\r\n$4\r\nname\r\n") || strings.HasPrefix(elems[i], "*6\r\n$4\r\nname\r\n"))
			}
			if line[0] == '*' && named {
				slices.Sort(elems)
			}
			return line + strings.Join(elems, "")
		}
		return line
	}
	return read(bufio.NewReader(strings.NewReader(reply)))
}

// durationMS masks FUNCTION STATS' running time.
var durationMS = regexp.MustCompile(`\$11\r\nduration_ms\r\n:\d+\r\n`)

// TestFunctionKillResp3: while a function runs, a RESP3 client in
// another database sees it in FUNCTION STATS as a redis-server shows it
// to a RESP3 client, and kills it; so does a RESP3 client's SCRIPT KILL
// of a script.
func TestFunctionKillResp3(t *testing.T) {
	servers := testbed.Redises(t, 3)
	ctx := context.Background()
	ds := direct(t, servers)
	for _, d := range ds {
		if err := d.ConfigSet(ctx, "busy-reply-threshold", "100").Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, addrs := startWalnut(t, "[proxy]\nworkers = 1\n"+redisPool("p", servers, `hash = "md5"`+"\ntimeout = \"5s\""))
	c := newClient(t, addrs["p"], func(o *redis.Options) { o.ReadTimeout = 10 * time.Second })
	key := keyPerServer(t, ctx, c, ds)[2]
	if err := c.FunctionLoad(ctx, spinCode).Err(); err != nil {
		t.Fatal(err)
	}
	killer := dialRaw(t, addrs["p"])
	for _, args := range [][]string{{"HELLO", "3"}, {"SELECT", "3"}, {"GET", "warm"}} {
		killer.call(t, args...)
	}
	for _, kill := range []string{"FUNCTION", "SCRIPT"} {
		done := make(chan error, 1)
		go func() {
			var err error
			if kill == "FUNCTION" {
				err = c.FCall(ctx, "spin", []string{key}).Err()
			} else {
				err = c.Eval(ctx, spinScript, []string{key}).Err()
			}
			done <- err
		}()
		if !waitFor(3*time.Second, func() bool {
			err := ds[2].Ping(ctx).Err()
			return err != nil && strings.HasPrefix(err.Error(), "BUSY")
		}) {
			t.Fatalf("%s: the server never got busy", kill)
		}
		if kill == "FUNCTION" {
			got := killer.call(t, "FUNCTION", "STATS")
			direct := dialRaw(t, servers[2].Addr)
			direct.call(t, "HELLO", "3")
			want := direct.call(t, "FUNCTION", "STATS")
			got, want = durationMS.ReplaceAllString(got, "ms"), durationMS.ReplaceAllString(want, "ms")
			if got != want || !strings.Contains(got, "spin") {
				t.Errorf("FUNCTION STATS while busy:\n walnut       %q\n redis-server %q", show(got), show(want))
			}
		}
		if got := killer.call(t, kill, "KILL"); got != "+OK\r\n" {
			t.Fatalf("%s KILL while busy: %q", kill, show(got))
		}
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("the killed call answered %v", err)
			}
		case <-time.After(1500 * time.Millisecond):
			t.Fatalf("%s KILL answered OK but the call is still running", kill)
		}
		if got := killer.call(t, kill, "KILL"); got != "-NOTBUSY No scripts in execution right now.\r\n" {
			t.Fatalf("%s KILL with nothing running: %q", kill, show(got))
		}
	}
}
