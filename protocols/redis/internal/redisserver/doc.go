// Package redisserver starts a throwaway redis-server on a free loopback
// port and talks to it with a minimal RESP2 client. The command-table
// generator and the codec's integration tests use it to ask the real
// server (COMMAND, COMMAND GETKEYS) rather than trusting hand-kept data.
package redisserver
