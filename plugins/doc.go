// Package plugins is walnut's side of external plugins: distributions
// and hash functions built as executables of their own, which walnut
// starts and talks to with hashicorp/go-plugin over gRPC.
//
// Start runs every [plugins.NAME] of the configuration before any pool
// listens. Host.Distribution and Host.Hasher give what each serves, as
// the distributions interfaces that core.WithDistribution and
// core.WithHasher take. A distribution plugin is called only to build
// tables; the table it returns is converted to an in-process one, so
// requests are routed as fast as by a builtin. A hash plugin is called
// once per batch of keys, off the event loops.
//
// A plugin that dies is restarted with backoff while walnut keeps the
// tables it has; Host.OnRestart lets the command rebuild them from the
// restarted plugin. The plugin side is plugins/sdk; the contract between
// the two is plugins/shared and plugins/proto.
package plugins
