// Package mover is memcached's mover for walnut reshard (see
// protocols/move): the driver of protocols/memcached hands it out. It
// lists an old server's keys with the LRU crawler (lru_crawler metadump
// all), reads each moving item with mg, adds it to its new server with ms
// (add mode, so that a newer copy there stays) and deletes it from the old
// one with md, only if unchanged since the read (CAS). memcached has one
// namespace, 0, and a server's name is its address.
package mover
