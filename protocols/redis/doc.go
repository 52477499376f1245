// Package redis is walnut's Redis codec, registered as protocol "redis".
// It parses RESP2 requests (and inline commands) zero-copy, finds each
// command's keys from the key specs redis-server itself publishes (the
// generated commands_gen.go), and decides per command whether walnut
// forwards it to the server owning its keys, splits it across servers and
// merges the replies (MGET, MSET, DEL, UNLINK, TOUCH, EXISTS), sends it
// to every server and merges what they say (KEYS, SCAN, DBSIZE...),
// answers it itself (PING, SELECT, AUTH, HELLO, CLIENT, COMMAND...),
// serves it on a dedicated connection of the client's own (transactions,
// blocking commands, pub/sub), or refuses it; policy.go states that
// policy. It also frames server replies, so the core knows where each
// one ends.
//
// Its driver also gives walnut reshard a mover for a Redis pool's keys
// (protocols/move; the mover is internal/mover): SCAN, MIGRATE ... COPY
// or DUMP and RESTORE, then UNLINK, in every database that holds keys.
package redis
