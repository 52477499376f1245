package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// A subscriber and a publisher talk to walnut (three servers) and to one
// redis-server, in lockstep: every reply and every message is the same,
// byte for byte, counts included.
func TestPubSubLikeRedis(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"")
	single := testbed.Redis(t)
	ctx := context.Background()
	// Channels that live on different servers of the pool.
	ch := keysApart(t, ctx, newClient(t, addr), direct(t, servers), 3)

	type target struct {
		name     string
		sub, pub *rawConn
	}
	targets := []target{
		{"walnut", dialRaw(t, addr), dialRaw(t, addr)},
		{"redis-server", dialRaw(t, single.Addr), dialRaw(t, single.Addr)},
	}
	// Each step is a subscriber command (its replies are compared), or a
	// publication (its count is compared) and the messages the subscriber
	// then receives.
	steps := []struct {
		sub      string
		pub      string
		messages int
	}{
		{sub: "UNSUBSCRIBE"},
		{sub: "PUNSUBSCRIBE"},
		{sub: fmt.Sprintf("SUBSCRIBE %s %s %s", ch[0], ch[1], ch[0])},
		{sub: "PSUBSCRIBE k* nomatch*"},
		{sub: "SSUBSCRIBE " + ch[2]},
		{pub: fmt.Sprintf("PUBLISH %s hello", ch[0]), messages: 2},
		{pub: fmt.Sprintf("PUBLISH %s world", ch[1]), messages: 2},
		{pub: fmt.Sprintf("PUBLISH %s only-pattern", ch[2]), messages: 1},
		{pub: fmt.Sprintf("SPUBLISH %s shard", ch[2]), messages: 1},
		{pub: "PUBLISH nobody x"},
		{sub: "GET x"},
		{sub: "PING"},
		{sub: "PING hi"},
		// walnut's own commands and the keyspace ones are refused as
		// Redis refuses everything else to a RESP2 subscriber.
		{sub: "ECHO x"},
		{sub: "SELECT 1"},
		{sub: "CLIENT GETNAME"},
		{sub: "AUTH pw"},
		{sub: "HELLO 3"},
		{sub: "INFO"},
		{sub: "KEYS *"},
		{sub: "SCAN 0"},
		{sub: "DBSIZE"},
		{sub: "FLUSHALL"},
		{sub: "MULTI"},
		{sub: "BLPOP l 0"},
		{sub: "SUBSCRIBE"},
		{sub: fmt.Sprintf("UNSUBSCRIBE %s never", ch[0])},
		{pub: fmt.Sprintf("PUBLISH %s after", ch[0]), messages: 1},
		{sub: "PUNSUBSCRIBE k*"},
		{pub: fmt.Sprintf("PUBLISH %s after", ch[0])},
		{sub: "UNSUBSCRIBE"},
		{sub: "PUNSUBSCRIBE"},
		// Still subscribed: a shard channel.
		{sub: "GET x"},
		{sub: "SUNSUBSCRIBE"},
		{pub: fmt.Sprintf("SPUBLISH %s gone", ch[2])},
		{sub: "GET x"},
		{sub: "SUBSCRIBE " + ch[1]},
		{pub: fmt.Sprintf("PUBLISH %s again", ch[1]), messages: 1},
	}
	for _, st := range steps {
		var got []string
		for _, tg := range targets {
			var s string
			if st.sub != "" {
				s = exchangeMarked(t, tg.sub, []string{st.sub})[0]
			} else {
				tg.pub.send(t, cmd(st.pub))
				v, err := readValue(tg.pub.r)
				if err != nil {
					t.Fatalf("%s: %s: %v", tg.name, st.pub, err)
				}
				s = v
				for range st.messages {
					m, err := readValue(tg.sub.r)
					if err != nil {
						t.Fatalf("%s: a message after %s: %v", tg.name, st.pub, err)
					}
					s += " | " + m
				}
			}
			got = append(got, s)
		}
		what := st.sub + st.pub
		if got[0] != got[1] {
			t.Errorf("%s:\n walnut       %q\n redis-server %q", what, show(got[0]), show(got[1]))
		}
	}
	// Nothing more came than Redis sends.
	w, r := exchangeMarked(t, targets[0].sub, []string{"PING"}), exchangeMarked(t, targets[1].sub, []string{"PING"})
	if w[0] != r[0] {
		t.Errorf("at the end: walnut %q, redis-server %q", show(w[0]), show(r[0]))
	}
}

// go-redis' PubSub through walnut: channels on several servers and a
// pattern across them, counts, messages from another client,
// unsubscribing.
func TestPubSubGoRedis(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("alpha", servers, "hash = \"md5\""))
	ctx := context.Background()
	c := newClient(t, addrs["alpha"])
	pub := newClient(t, addrs["alpha"])
	ch := keysApart(t, ctx, c, direct(t, servers), 3)

	sub := c.Subscribe(ctx, ch[0], ch[1])
	defer sub.Close()
	expect := func(kind, channel string, count int) {
		t.Helper()
		m, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("waiting for %s %s: %v", kind, channel, err)
		}
		s, ok := m.(*redis.Subscription)
		if !ok || s.Kind != kind || s.Channel != channel || s.Count != count {
			t.Fatalf("got %#v, want %s %s %d", m, kind, channel, count)
		}
	}
	expect("subscribe", ch[0], 1)
	expect("subscribe", ch[1], 2)
	if err := sub.PSubscribe(ctx, "k*"); err != nil {
		t.Fatal(err)
	}
	expect("psubscribe", "k*", 3)
	if err := sub.SSubscribe(ctx, "s"+ch[2]); err != nil {
		t.Fatal(err)
	}
	expect("ssubscribe", "s"+ch[2], 1)

	// ch[2] is on the third server, where only the pattern is.
	for i, p := range []struct {
		ch   string
		n    int64
		msgs []string
	}{
		{ch[0], 2, []string{ch[0] + "::m0", ch[0] + ":k*:m0"}},
		{ch[1], 2, []string{ch[1] + "::m1", ch[1] + ":k*:m1"}},
		{ch[2], 1, []string{ch[2] + ":k*:m2"}},
		{"elsewhere", 0, nil},
	} {
		n, err := pub.Publish(ctx, p.ch, fmt.Sprintf("m%d", i)).Result()
		if err != nil || n != p.n {
			t.Fatalf("PUBLISH %s = %d, %v; want %d receivers", p.ch, n, err, p.n)
		}
		var got []string
		for range p.msgs {
			m, err := sub.ReceiveTimeout(ctx, 5*time.Second)
			if err != nil {
				t.Fatalf("waiting for messages of %s: %v", p.ch, err)
			}
			mm := m.(*redis.Message)
			got = append(got, mm.Channel+":"+mm.Pattern+":"+mm.Payload)
		}
		if strings.Join(got, ",") != strings.Join(p.msgs, ",") {
			t.Fatalf("PUBLISH %s: got %v, want %v", p.ch, got, p.msgs)
		}
	}
	if n, err := pub.SPublish(ctx, "s"+ch[2], "shard").Result(); err != nil || n != 1 {
		t.Fatalf("SPUBLISH = %d, %v", n, err)
	}
	if m, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil || m.(*redis.Message).Payload != "shard" {
		t.Fatalf("shard message: %v, %v", m, err)
	}

	if err := sub.Unsubscribe(ctx, ch[0]); err != nil {
		t.Fatal(err)
	}
	expect("unsubscribe", ch[0], 2)
	if n, _ := pub.Publish(ctx, ch[0], "late").Result(); n != 1 {
		t.Fatalf("PUBLISH after UNSUBSCRIBE: %d receivers, want 1 (the pattern)", n)
	}
	if m, _ := sub.ReceiveTimeout(ctx, 5*time.Second); m.(*redis.Message).Pattern != "k*" {
		t.Fatalf("after UNSUBSCRIBE: %#v", m)
	}
	if err := sub.PUnsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	expect("punsubscribe", "k*", 1)
	if err := sub.Ping(ctx); err != nil {
		t.Fatalf("PING while subscribed: %v", err)
	}
	if m, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		t.Fatalf("pong: %v", err)
	} else if _, ok := m.(*redis.Pong); !ok {
		t.Fatalf("PING while subscribed answered %#v", m)
	}
	snap := px.Snapshot().Pools[0]
	if snap.DedicatedConnections != 3 || snap.Pushes != 7 {
		t.Errorf("subscribed to 3 servers: %d dedicated connections, %d pushes relayed; want 3, 7", snap.DedicatedConnections, snap.Pushes)
	}
	sub.Close()
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 0 }) {
		t.Fatalf("%d dedicated connections after the subscriber closed", dedicatedOpen(px, "alpha"))
	}
}

// A subscriber that stops reading slows its servers down rather than
// walnut's memory growing: walnut stops reading its connections past
// max_client_output, and every message arrives, in order, once it reads.
func TestPubSubSlowSubscriber(t *testing.T) {
	servers, addr := redisWalnut(t, 1, "alpha", "max_client_output = \"64KiB\"\nclient_timeout = \"300ms\"")
	ctx := context.Background()
	sub := dialRaw(t, addr)
	sub.SetDeadline(time.Now().Add(60 * time.Second))
	exchangeMarked(t, sub, []string{"SUBSCRIBE feed"})
	pub := newClient(t, addr)
	payload := strings.Repeat("x", 2000)
	const n = 8000 // 16MB, more than the sockets between hold
	for i := range n {
		if err := pub.Publish(ctx, "feed", fmt.Sprintf("%05d%s", i, payload)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The backlog waits in the server's output buffer for walnut's
	// subscription connection, not in walnut.
	d := direct(t, servers)[0]
	backlog := func() int {
		list, _ := d.ClientList(ctx).Result()
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, " flags=P ") {
				var omem int
				for _, f := range strings.Fields(l) {
					fmt.Sscanf(f, "omem=%d", &omem)
				}
				return omem
			}
		}
		return 0
	}
	if !waitFor(5*time.Second, func() bool { return backlog() > 1<<20 }) {
		t.Fatalf("the server holds %d bytes for walnut: walnut kept reading for a subscriber that does not", backlog())
	}
	t.Logf("the server holds %d bytes of messages while the subscriber does not read", backlog())
	// Idle far longer than client_timeout: subscribers are exempt.
	time.Sleep(700 * time.Millisecond)
	for i := range n {
		v, err := readValue(sub.r)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := fmt.Sprintf("%05d", i); !strings.Contains(v, "\r\n"+want) {
			t.Fatalf("message %d out of order: %.60q", i, v)
		}
	}
	if got := exchangeMarked(t, sub, []string{"PING"}); got[0] != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
		t.Fatalf("extra: %.80q", got[0])
	}
}
