// Package distributions defines how walnut places keys on servers: the
// HashFunc type, the Distribution interface that builds a routing Table
// from a server list, and the registries that builtins (ketama, modula,
// random and the hash functions under distributions/hash) and external
// plugins join by name. A Table routes in-process; building one is the
// only step that may be slow or cross a process boundary.
package distributions
