// Package testbed starts the real processes walnut's integration tests
// run against (redis-server, memcached, nutcracker as the compatibility
// oracle, walnut itself) on free loopback ports, the same way for every
// test, and stops them when the test ends. A missing binary fails the
// test with the command that installs it: CI installs everything, so a
// skip would only hide a broken setup.
package testbed
