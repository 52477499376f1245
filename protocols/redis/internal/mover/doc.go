// Package mover is Redis' mover for walnut reshard (see protocols/move):
// the driver of protocols/redis hands it out. It moves the keys of every
// database of an old server that holds any, page by page with SCAN (the
// state file keeps the cursor), copies a batch of them with MIGRATE ...
// COPY, or DUMP and RESTORE through this process where MIGRATE cannot
// reach the new server, and deletes them with UNLINK once copied. Its
// namespaces are the databases, and a server's name in the report and the
// state file carries its database when it is not 0 (10.0.0.1:6379/db3).
// Before the keys, it gives every new server the function libraries the
// old server has and it lacks (functions.go).
//
// It has a RESP client of its own (resp.go) rather than the codec's
// parser: the codec frames replies without reading them, and the mover
// needs their values.
package mover
