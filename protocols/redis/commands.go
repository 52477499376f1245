package redis

//go:generate go run ./internal/gencommands -out commands_gen.go

// commandInfo is what redis-server says about one command (COMMAND INFO).
// The table is generated (commands_gen.go); what walnut does with each
// command is decided separately, in policy.go.
type commandInfo struct {
	// name is lower case; a subcommand is "container|sub".
	name string
	// arity as Redis defines it: n means exactly n arguments counting the
	// command name, -n at least n.
	arity int16
	flags cmdFlags
	acl   aclCategories
	// container commands (OBJECT, XINFO...) only exist through their
	// subcommands, which carry the arity and key specs.
	container bool
	keySpecs  []keySpec
}

type cmdFlags uint32

// Command flags, as COMMAND reports them.
const (
	flagWrite cmdFlags = 1 << iota
	flagReadonly
	flagDenyOOM
	flagModule
	flagAdmin
	flagPubSub
	flagNoScript
	flagBlocking
	flagLoading
	flagStale
	flagSkipMonitor
	flagSkipSlowlog
	flagAsking
	flagFast
	flagNoAuth
	flagMayReplicate
	flagSentinel
	flagOnlySentinel
	flagNoMandatoryKeys
	flagProtected
	flagNoAsyncLoading
	flagNoMulti
	flagMovableKeys
	flagAllowBusy
)

type aclCategories uint32

// ACL categories, as COMMAND reports them.
const (
	aclKeyspace aclCategories = 1 << iota
	aclRead
	aclWrite
	aclSet
	aclSortedSet
	aclList
	aclHash
	aclString
	aclBitmap
	aclHyperLogLog
	aclGeo
	aclStream
	aclPubSub
	aclAdmin
	aclFast
	aclSlow
	aclBlocking
	aclDangerous
	aclConnection
	aclTransaction
	aclScripting
)

// keySpec is one of a command's key specifications: where to start
// looking (begin) and how to find the keys from there (find). See
// https://redis.io/docs/reference/key-specs/.
type keySpec struct {
	flags keySpecFlags
	begin beginSearch
	// index is the argument position for beginIndex.
	index int16
	// keyword (upper case) is searched case-insensitively for
	// beginKeyword, from argument startFrom (negative: from the end,
	// backwards); the keys start after it.
	keyword   string
	startFrom int16
	find      findKeys
	// findRange: lastKey is relative to the first key (negative: from
	// the end of the arguments); limit, when lastKey is -1, keeps only
	// 1/limit of the remaining arguments (XREAD's keys before its IDs).
	lastKey int16
	limit   int16
	// findKeynum: the argument at keyNumIdx (from the first key
	// position) holds the number of keys, which start firstKey later.
	keyNumIdx int16
	firstKey  int16
	step      int16
}

type keySpecFlags uint16

// Key spec flags, as COMMAND reports them.
const (
	ksRO keySpecFlags = 1 << iota
	ksRW
	ksOW
	ksRM
	ksAccess
	ksUpdate
	ksInsert
	ksDelete
	ksNotKey
	ksIncomplete
	ksVariableFlags
)

type beginSearch uint8

const (
	beginUnknown beginSearch = iota
	beginIndex
	beginKeyword
)

type findKeys uint8

const (
	findUnknown findKeys = iota
	findRange
	findKeynum
)

// maxNameLen bounds the names lookup hashes; longer ones are unknown
// without a lookup (the longest, with a subcommand, is under 32).
const maxNameLen = 48

// Command names are found through an open-addressing hash table built at
// init, rather than a map: the name is lower-cased and hashed in one pass
// into a stack buffer, and a probe usually ends at the first slot.
const (
	nameTableBits = 11
	nameTableMask = 1<<nameTableBits - 1
	fnvOffset     = 2166136261
	fnvPrime      = 16777619
)

// nameTable holds commandTable index + 1 per slot; 0 is empty.
var nameTable = func() (t [1 << nameTableBits]uint16) {
	if len(commandTable) >= len(t)/2 {
		panic("redis: nameTable too small for commandTable")
	}
	for i := range commandTable {
		name := commandTable[i].name
		if len(name) > maxNameLen {
			panic("redis: command name longer than maxNameLen: " + name)
		}
		h := uint32(fnvOffset)
		for j := 0; j < len(name); j++ {
			h = (h ^ uint32(name[j])) * fnvPrime
		}
		for s := slot(h); ; s = (s + 1) & nameTableMask {
			if t[s] == 0 {
				t[s] = uint16(i + 1)
				break
			}
		}
	}
	return t
}()

// slot spreads the FNV hash's well-mixed high bits over the table.
func slot(h uint32) uint32 {
	return (h * 0x9E3779B1) >> (32 - nameTableBits)
}

// probe returns the commandTable index of the lower-case name with hash
// h, or -1.
func probe(name []byte, h uint32) int {
	for s := slot(h); ; s = (s + 1) & nameTableMask {
		e := nameTable[s]
		if e == 0 {
			return -1
		}
		if commandTable[e-1].name == string(name) {
			return int(e - 1)
		}
	}
}

// find returns the commandTable index of a lower-case name, or -1.
func find(name string) int {
	h := uint32(fnvOffset)
	for j := 0; j < len(name); j++ {
		h = (h ^ uint32(name[j])) * fnvPrime
	}
	return probe([]byte(name), h)
}

// lookup finds the command named by args[0] (and args[1] for a
// container), case-insensitively. It returns -1 for an unknown command and
// for a container whose subcommand is unknown or missing, and the
// container's index when there is one (else -1).
func lookup(args [][]byte) (idx, container int) {
	var buf [maxNameLen]byte
	name := args[0]
	if len(name) > maxNameLen {
		return -1, -1
	}
	h := uint32(fnvOffset)
	bar := false
	for j, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		bar = bar || c == '|'
		buf[j] = c
		h = (h ^ uint32(c)) * fnvPrime
	}
	if bar {
		// "object|encoding" is the table's name for OBJECT ENCODING, not
		// a command a client may send.
		return -1, -1
	}
	n := len(name)
	i := probe(buf[:n], h)
	if i < 0 || !commandTable[i].container {
		return i, -1
	}
	if len(args) < 2 || n+1+len(args[1]) > maxNameLen {
		return -1, i
	}
	buf[n] = '|'
	h = (h ^ '|') * fnvPrime
	for j, c := range args[1] {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n+1+j] = c
		h = (h ^ uint32(c)) * fnvPrime
	}
	return probe(buf[:n+1+len(args[1])], h), i
}
