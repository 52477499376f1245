// Package config reads walnut's configuration files into validated,
// defaulted values. Decoding is strict: an unknown key, a wrong type or a
// bad value is an error naming the file, the key and what is wrong, and
// every such error in a file is reported at once. Names of protocols,
// hash functions and distributions are checked against their registries,
// so the binary's builtins and plugins decide what is valid.
package config
