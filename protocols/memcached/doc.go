// Package memcached is walnut's memcached codec, registered as protocol
// "memcached". It parses the text protocol and the meta protocol (mg, ms,
// md, ma, mn) zero-copy, routes each command by its key, splits a
// multi-key get, gets, gat or gats over the servers that own its keys and
// merges the answers back in the client's key order, and frames server
// responses so the core knows where each ends. memcached 1.6's
// doc/protocol.txt, and the server itself where the two differ, is the
// reference for every byte.
//
// A proxy shares one server connection among many clients and pairs
// responses with requests by order alone, so every request forwarded must
// get exactly one response. noreply (text commands) and the q flag (meta
// commands) break that, so walnut strips them from what it forwards and
// drops, itself, the reply the client asked not to see: all of it for
// noreply, and for q the code memcached would have hidden (EN for mg, HD
// for ms, md and ma).
//
// Keys are routed as sent: a meta command's base64 key (flag b) is hashed
// in its base64 form, so a binary key must always be sent encoded to be
// found on its server.
//
// quit and mn are answered by walnut; version goes, as in nutcracker, to
// the server that owns the empty key, whose version it answers. Commands
// that address a server rather than a key (stats, flush_all, verbosity,
// ...) get
// "SERVER_ERROR unsupported command <name>"; unknown ones get "ERROR", as
// from memcached.
//
// # Bad input
//
// Where the client's stream can still be followed, walnut answers the bad
// request itself, with memcached's text for it, and reads on; where it
// cannot, it answers CLIENT_ERROR and closes the connection. memcached
// reads on in more cases than walnut, treating a data block it could not
// attach to a command as commands; walnut would rather close than guess.
//
//	then     input                                          reply
//	read on  unknown command, empty line                    ERROR
//	read on  wrong token count (not a storage command)      ERROR
//	read on  key over 250 bytes, or with NUL, CR or LF (2)  CLIENT_ERROR bad command line format (1)
//	read on  bad flags, exptime or cas in set, ..., cas     CLIENT_ERROR bad command line format (1)
//	read on  bad delta in incr, decr                        CLIENT_ERROR invalid numeric delta argument
//	read on  bad exptime in touch, gat, gats                CLIENT_ERROR invalid exptime argument
//	read on  delete with a hold time other than 0           CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]
//	read on  two q flags in mg, ms                          CLIENT_ERROR duplicate flag (1)
//	read on  two q flags in md, ma                          CLIENT_ERROR invalid or duplicate flag
//	read on  stats, flush_all, verbosity, ...               SERVER_ERROR unsupported command <name>
//	close    storage command with a wrong token count       CLIENT_ERROR bad command line format
//	close    data length missing, not a number, negative    CLIENT_ERROR bad command line format
//	close    data length over the pool's max value size     CLIENT_ERROR object too large for cache
//	close    data block not followed by "\r\n"              CLIENT_ERROR bad data chunk
//	close    command line over 8 KiB (not get, gets, ...)   CLIENT_ERROR line too long
//	close    request over the pool's max request size       CLIENT_ERROR request too large
//
// (1) A storage command's data block is skipped with it, its length being
// known. Errors that would be read on are not sent for a text command with
// noreply, as memcached sends none either; meta commands always get theirs.
// (2) Other control bytes and DEL too when the pool sets strict_keys, as
// protocol.txt asks; by default walnut takes what memcached takes, and
// benchmark tools such as memcaslap do put control bytes in keys.
//
// Server errors (a server unreachable or timed out) reach the client as
// "SERVER_ERROR <reason>"; for a multi-get, one failed part fails the
// whole reply, since a client cannot be told which keys were read.
//
// # Resharding
//
// The driver also gives walnut reshard a mover for a memcached pool's
// keys (protocols/move; the mover is internal/mover): the LRU crawler's
// key dump, then mg, ms in add mode, and md only if the item is unchanged.
package memcached
