// Package walnutcmd is walnut's command line: flags, configuration
// loading, start and signal handling. It lives apart from cmd/walnut so
// that a custom build is a ten-line main that blank-imports its own
// extensions next to the builtins and calls Main (see
// examples/custom-build).
package walnutcmd
