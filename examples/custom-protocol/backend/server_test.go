package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, hello string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- newServer(hello).serve(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// exchange sends script in one write and reads until the connection has
// given want's length, or closes, or a second passes.
func exchange(t *testing.T, addr, script string, want int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, script); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, want)
	buf := make([]byte, 4096)
	for len(got) < want {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(got)
}

func TestCommands(t *testing.T) {
	addr := start(t, "")
	script := "SET a 1\r\nSET b two words\nGET b\r\nGET c\r\nMGET a c b\r\nSIZE\r\nDEL a c\r\nSIZE\r\n" +
		"PING\r\nINFO\r\nBOGUS\r\nGET a b\r\nQUIT\r\nGET a\r\n"
	want := "OK\r\nOK\r\nVALUE two words\r\nNONE\r\nVALUES 3\r\nVALUE 1\r\nNONE\r\nVALUE two words\r\nCOUNT 2\r\nCOUNT 1\r\nCOUNT 1\r\n" +
		"PONG\r\nINFO keys 1 hello -\r\nERROR unknown command BOGUS\r\nERROR wrong number of arguments for GET\r\nBYE\r\n"
	if got := exchange(t, addr, script, len(want)+1); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestHello(t *testing.T) {
	addr := start(t, "walnut")
	script := "GET a\r\nHELLO other\r\nSET a 1\r\nPING\r\nHELLO walnut\r\nSET a 1\r\nGET a\r\nINFO\r\n"
	want := "ERROR say HELLO first\r\nERROR wrong hello\r\nERROR say HELLO first\r\nPONG\r\nOK\r\nOK\r\nVALUE 1\r\nINFO keys 1 hello walnut\r\n"
	if got := exchange(t, addr, script, len(want)); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// A stream the codec cannot follow is answered once and closed.
func TestBadInput(t *testing.T) {
	addr := start(t, "")
	got := exchange(t, addr, "GET a\r\nGET \x00\r\nGET a\r\n", 100)
	if want := "NONE\r\nERROR NUL byte in a request: not a kvline client\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A line that never ends is refused at the codec's limit, not
	// buffered for ever.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 40 { // 2.5 MiB, more than the 1 MiB limit
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	reply, _ := io.ReadAll(c)
	if string(reply) != "ERROR line too long\r\n" {
		t.Fatalf("endless line: %q", reply)
	}
}
