package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/core"
)

// readValue reads one RESP2 or RESP3 value and returns its bytes as they
// came; an attribute is read with the value it precedes.
func readValue(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return line, err
	}
	if len(line) < 3 {
		return line, fmt.Errorf("bad RESP line %q", line)
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return line, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil || n < 0 {
			return line, err
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return line + string(buf), err
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return line, err
		}
		switch line[0] {
		case '%':
			n *= 2
		case '|':
			n = 2*n + 1
		}
		s := line
		for range n {
			v, err := readValue(r)
			s += v
			if err != nil {
				return s, err
			}
		}
		return s, nil
	}
	return line, fmt.Errorf("bad RESP line %q", line)
}

// fields turns "SET k v" into RESP; "" stands for an empty argument.
func cmd(s string) string {
	args := strings.Fields(s)
	for i, a := range args {
		if a == `""` {
			args[i] = ""
		}
	}
	return resp(args...)
}

// exchange sends cmds on a new connection to addr and returns the
// replies, one RESP value per command; pipelined sends them all in one
// write.
func exchange(t testing.TB, addr string, cmds []string, pipelined bool) []string {
	t.Helper()
	c := dialRaw(t, addr)
	var out []string
	if pipelined {
		var all string
		for _, s := range cmds {
			all += cmd(s)
		}
		c.send(t, all)
	}
	for _, s := range cmds {
		if !pipelined {
			c.send(t, cmd(s))
		}
		v, err := readValue(c.r)
		if err != nil {
			t.Fatalf("%s: reading the reply to %q: %v (got %q so far)", addr, s, err, out)
		}
		out = append(out, v)
	}
	return out
}

// exchangeMarked is exchange for commands with any number of replies
// (pub/sub): each is followed by a PING with a marker, whose answer (in
// subscribed mode or not) ends its replies.
func exchangeMarked(t testing.TB, c *rawConn, cmds []string) []string {
	t.Helper()
	const marker = "--end-of-replies--"
	var out []string
	for _, s := range cmds {
		c.send(t, cmd(s)+resp("PING", marker))
		var got string
		for {
			v, err := readValue(c.r)
			if err != nil {
				t.Fatalf("reading the replies to %q: %v (got %q)", s, err, got)
			}
			if bulk := "$18\r\n" + marker + "\r\n"; v == bulk || v == "*2\r\n$4\r\npong\r\n"+bulk {
				break
			}
			got += v
		}
		out = append(out, got)
	}
	return out
}

// show makes RESP readable in failure messages.
func show(s string) string {
	return strings.ReplaceAll(s, "\r\n", " ")
}

// compareReplies fails the test where walnut's replies differ from one
// redis-server's.
func compareReplies(t testing.TB, name string, cmds, walnut, redis []string) {
	t.Helper()
	for i := range cmds {
		if walnut[i] != redis[i] {
			t.Errorf("%s: %q: walnut %q, redis-server %q", name, cmds[i], show(walnut[i]), show(redis[i]))
		}
	}
}

// dedicatedOpen returns the pool's open dedicated connections.
func dedicatedOpen(px *core.Proxy, pool string) int64 {
	for _, p := range px.Snapshot().Pools {
		if p.Name == pool {
			return p.DedicatedConnections
		}
	}
	return -1
}

// keysApart returns n keys that live on n different servers of ds.
func keysApart(t testing.TB, ctx context.Context, c *redis.Client, ds []*redis.Client, n int) []string {
	t.Helper()
	byServer := keyPerServer(t, ctx, c, ds)
	var keys []string
	for i := 0; len(keys) < n; i++ {
		keys = append(keys, byServer[i])
	}
	for _, k := range keys {
		if err := c.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
