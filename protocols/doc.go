// Package protocols is the contract between walnut's protocol-agnostic
// core and its wire protocols, in the style of database/sql/driver: it
// defines the Codec interface and the Request the core hands to it, and
// keeps the registry that concrete codecs (protocols/redis, ...) join from
// their init functions. The core imports this package and never a codec.
// What walnut reshard asks of a protocol, a mover for its pools' keys, is
// a contract of its own, in protocols/move.
package protocols
