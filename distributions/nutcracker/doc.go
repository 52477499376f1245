// Package nutcracker has no code of its own: its tests hold walnut's
// placement to nutcracker's. They replay placements recorded from a real
// nutcracker 0.5 binary (testdata/placements.json) through walnut's hash
// functions and distributions, and, where a nutcracker binary is
// installed, record them afresh and compare. Hand-derived vectors can
// only confirm what their author already believed about the C; a real
// binary also catches what nobody thought to check.
package nutcracker
