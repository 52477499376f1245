//go:build !linux

package core

// walnut's event loops are built on Linux: epoll, eventfd, accept4,
// SO_REUSEPORT and passing descriptors to the process that takes over in
// an upgrade. On any other system the package is this file alone, so
// that building walnut fails with the one message below instead of
// pages of undefined epoll symbols.
var _ = walnut_needs_Linux_its_event_loops_are_built_on_epoll
