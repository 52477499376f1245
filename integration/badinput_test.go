package integration

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Malformed requests get a protocol error and only the offending client
// is closed; a well-behaved client keeps working the whole time.
func TestRedisBadInputClosesOnlyThatClient(t *testing.T) {
	_, addr := redisWalnut(t, 2, "alpha", `max_request_size = 4096`)

	// A bystander runs requests throughout.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var bystanderOK, bystanderErr atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient(t, addr)
		for i := 0; ctx.Err() == nil && i < 100000; i++ {
			if err := c.Set(context.Background(), "bystander", "v", 0).Err(); err != nil {
				bystanderErr.Add(1)
				continue
			}
			bystanderOK.Add(1)
		}
	}()

	cases := []struct {
		name, input, wantPrefix string
	}{
		{"bad type byte in multibulk", "*2\r\n$3\r\nGET\r\n:3\r\nkey\r\n", "-ERR Protocol error: expected '$', got ':'"},
		{"non-numeric multibulk length", "*x\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"negative bulk length", "*2\r\n$3\r\nGET\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length"},
		{"non-numeric bulk length", "*2\r\n$3\r\nGET\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length"},
		{"huge multibulk length", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"bulk over max request size", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n", "-ERR Protocol error"},
		{"missing CRLF after bulk", "*2\r\n$3\r\nGETxx$1\r\nk\r\n", "-ERR Protocol error"},
		{"too many arguments", "*2000000\r\n", "-ERR Protocol error"},
		{"inline line too long", strings.Repeat("a", 70000), "-ERR Protocol error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			// A valid request first: its reply must still arrive.
			c.send(t, "*1\r\n$4\r\nPING\r\n"+tc.input)
			if got := c.line(t); got != "+PONG\r\n" {
				t.Fatalf("reply to the PING before the bad input: %q", got)
			}
			got := c.line(t)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Fatalf("got %q, want prefix %q", got, tc.wantPrefix)
			}
			if !c.closed() {
				t.Fatal("connection still open after a protocol error")
			}
		})
	}
	cancel()
	wg.Wait()
	if bystanderErr.Load() != 0 || bystanderOK.Load() == 0 {
		t.Fatalf("bystander: %d ok, %d errors", bystanderOK.Load(), bystanderErr.Load())
	}
}

// A request that is larger than the limit only in total (many small
// bulks) is refused as too large.
func TestRedisRequestTooLarge(t *testing.T) {
	_, addr := redisWalnut(t, 1, "alpha", `max_request_size = 4096`)
	c := dialRaw(t, addr)
	var b strings.Builder
	b.WriteString("*1001\r\n$4\r\nMGET\r\n")
	for range 1000 {
		b.WriteString("$8\r\nkey-key-\r\n")
	}
	c.send(t, b.String())
	if got := c.line(t); !strings.HasPrefix(got, "-ERR Protocol error") || !strings.Contains(got, "too large") {
		t.Fatalf("got %q, want a too-large protocol error", got)
	}
	if !c.closed() {
		t.Fatal("connection still open")
	}
}

// Every byte in its own write: parsing is incremental.
func TestRedisByteAtATime(t *testing.T) {
	_, addr := redisWalnut(t, 2, "alpha", "")
	c := dialRaw(t, addr)
	input := "*3\r\n$3\r\nSET\r\n$5\r\nslowk\r\n$6\r\nslow-v\r\n" +
		"GET slowk\r\n" +
		"*4\r\n$4\r\nMGET\r\n$5\r\nslowk\r\n$4\r\nnone\r\n$5\r\nslowk\r\n"
	for i := range len(input) {
		c.send(t, input[i:i+1])
		time.Sleep(time.Millisecond)
	}
	want := []string{"+OK\r\n", "$6\r\n", "slow-v\r\n", "*3\r\n", "$6\r\n", "slow-v\r\n", "$-1\r\n", "$6\r\n", "slow-v\r\n"}
	for _, w := range want {
		if got := c.line(t); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
	}
}
