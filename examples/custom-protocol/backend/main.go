package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7001", "`address` to listen on")
	hello := flag.String("hello", "", "the `name` clients must say HELLO with before other commands; empty: none needed")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kvline backend listening on %s\n", ln.Addr())
	if err := newServer(*hello).serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
}
