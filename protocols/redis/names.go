package redis

// CommandNames returns the name of every command and subcommand of
// walnut's command table, lower case, a subcommand as "container|sub"
// ("get", "client", "client|list"), sorted. It is a new slice each time.
// The fidelity harness (integration/fidelity) drives each of them
// through a pool and against a redis-server, so that the commands it
// checks follow the table walnut routes by.
func CommandNames() []string {
	names := make([]string, len(commandTable))
	for i := range commandTable {
		names[i] = commandTable[i].name
	}
	return names
}
