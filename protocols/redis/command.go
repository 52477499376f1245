package redis

import (
	"strconv"
	"strings"
	"sync"

	"github.com/walnutproxy/walnut/protocols"
)

// COMMAND describes walnut's command table rather than a server's: the
// commands a client can send through walnut, in Redis 7's COMMAND INFO
// format, from the metadata commands_gen.go copied from redis-server
// (command tips and key spec notes, which walnut does not keep, are left
// out). COMMAND DOCS gives, as a command's summary, how walnut serves it.

// Flag, ACL category and key spec flag names, in the order of their
// constants (commands.go), which is the order Redis lists them in.
var (
	cmdFlagWords = []string{"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
		"loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth", "may_replicate", "sentinel",
		"only_sentinel", "no_mandatory_keys", "protected", "no_async_loading", "no_multi", "movablekeys", "allow_busy"}
	aclWords = []string{"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
		"hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
		"transaction", "scripting"}
	keySpecWords = []string{"RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key", "incomplete",
		"variable_flags"}
)

// served reports whether walnut serves command i: itself, or, for a
// container, some of its subcommands.
func served(i int) bool {
	if commandTable[i].container {
		return policies[i].anySub
	}
	return policies[i].act != actUnsupported
}

// commandMeta is built once: every served command's COMMAND INFO and
// COMMAND DOCS entries, and the lists.
type commandMeta struct {
	info     [][]byte // by commandTable index; nil if not served
	docs     [][]byte
	top      []int // served commands without a container, in name order
	all      []int // served commands and subcommands
	infoAll  []byte
	docsAll  []byte
	listAll  []byte
	countTop []byte
}

var (
	meta  = sync.OnceValue(func() *commandMeta { return buildMeta(false) })
	meta3 = sync.OnceValue(func() *commandMeta { return buildMeta(true) })
)

// buildMeta builds commandMeta for RESP2 or, with r3, RESP3, whose
// COMMAND replies have sets and maps where RESP2's have arrays.
func buildMeta(r3 bool) *commandMeta {
	m := &commandMeta{info: make([][]byte, len(commandTable)), docs: make([][]byte, len(commandTable))}
	// Subcommands first (their names sort after the container's), so
	// that a container's entry can include them.
	for i := len(commandTable) - 1; i >= 0; i-- {
		if served(i) {
			m.info[i] = appendCommandInfo(nil, i, m.info, r3)
			m.docs[i] = appendCommandDocs(nil, i, m.docs, r3)
		}
	}
	for i := range commandTable {
		if !served(i) {
			continue
		}
		m.all = append(m.all, i)
		if containerOf(i) < 0 {
			m.top = append(m.top, i)
		}
	}
	m.infoAll = appendCount(nil, '*', len(m.top))
	m.docsAll = appendMapLen(nil, len(m.top), r3)
	for _, i := range m.top {
		m.infoAll = append(m.infoAll, m.info[i]...)
		m.docsAll = appendBulk(m.docsAll, []byte(commandTable[i].name))
		m.docsAll = append(m.docsAll, m.docs[i]...)
	}
	m.listAll = appendCount(nil, '*', len(m.all))
	for _, i := range m.all {
		m.listAll = appendBulk(m.listAll, []byte(commandTable[i].name))
	}
	m.countTop = append(strconv.AppendInt([]byte(":"), int64(len(m.top)), 10), '\r', '\n')
	return m
}

// subcommands returns the indices of container i's subcommands.
func subcommands(i int) []int {
	var out []int
	prefix := commandTable[i].name + "|"
	for j := i + 1; j < len(commandTable) && strings.HasPrefix(commandTable[j].name, prefix); j++ {
		out = append(out, j)
	}
	return out
}

func appendInt(dst []byte, n int64) []byte {
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

func appendStatus(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendStr(dst []byte, s string) []byte { return appendBulk(dst, []byte(s)) }

// appendWords appends, as a set (an array in RESP2) of status replies,
// the words whose bit is set in flags.
func appendWords(dst []byte, flags uint32, words []string, prefix string, r3 bool) []byte {
	n := 0
	for b := range words {
		if flags&(1<<b) != 0 {
			n++
		}
	}
	dst = appendSetLen(dst, n, r3)
	for b, w := range words {
		if flags&(1<<b) != 0 {
			dst = appendStatus(dst, prefix+w)
		}
	}
	return dst
}

// legacyRange computes COMMAND's first key, last key and step from the
// key specs, as Redis' populateCommandLegacyRangeSpec does.
func legacyRange(c *commandInfo) (first, last, step int) {
	ks := c.keySpecs
	if len(ks) == 0 {
		return 0, 0, 0
	}
	if len(ks) == 1 && ks[0].begin == beginIndex && ks[0].find == findRange {
		first, last, step = int(ks[0].index), int(ks[0].lastKey), int(ks[0].step)
		if last >= 0 {
			last += first
		}
		return first, last, step
	}
	firstKey, lastKey, prevLast := int(^uint(0)>>1), 0, 0
	for i := range ks {
		s := &ks[i]
		if s.begin != beginIndex || s.find != findRange {
			continue
		}
		if s.step != 1 || (prevLast != 0 && prevLast != int(s.index)-1) {
			continue
		}
		firstKey = min(firstKey, int(s.index))
		abs := int(s.lastKey)
		if abs >= 0 {
			abs += int(s.index)
		}
		// Redis compares as unsigned, so a negative last key wins.
		if uint(abs) > uint(lastKey) {
			lastKey = abs
		}
		prevLast = lastKey
	}
	if firstKey == int(^uint(0)>>1) {
		return 0, 0, 0
	}
	return firstKey, lastKey, 1
}

// appendCommandInfo appends command i's COMMAND INFO entry; infos holds
// the entries of its subcommands. In RESP3, as Redis 7.0 sends it, the
// flags, categories, tips and key specs are sets, each key spec a map,
// and a command without subcommands has an empty set of them.
func appendCommandInfo(dst []byte, i int, infos [][]byte, r3 bool) []byte {
	c := &commandTable[i]
	dst = append(dst, "*10\r\n"...)
	dst = appendStr(dst, c.name)
	dst = appendInt(dst, int64(c.arity))
	dst = appendWords(dst, uint32(c.flags), cmdFlagWords, "", r3)
	first, last, step := legacyRange(c)
	dst = appendInt(dst, int64(first))
	dst = appendInt(dst, int64(last))
	dst = appendInt(dst, int64(step))
	dst = appendWords(dst, uint32(c.acl), aclWords, "@", r3)
	dst = appendSetLen(dst, 0, r3) // tips
	dst = appendSetLen(dst, len(c.keySpecs), r3)
	for k := range c.keySpecs {
		dst = appendKeySpec(dst, &c.keySpecs[k], r3)
	}
	var subs []int
	if c.container {
		for _, j := range subcommands(i) {
			if infos[j] != nil {
				subs = append(subs, j)
			}
		}
	}
	if c.container {
		dst = appendCount(dst, '*', len(subs))
	} else {
		dst = appendSetLen(dst, 0, r3)
	}
	for _, j := range subs {
		dst = append(dst, infos[j]...)
	}
	return dst
}

// appendKeySpec appends one key spec as Redis' COMMAND shows it: maps
// (flat arrays in RESP2).
func appendKeySpec(dst []byte, ks *keySpec, r3 bool) []byte {
	dst = appendMapLen(dst, 3, r3)
	dst = appendStr(dst, "flags")
	dst = appendWords(dst, uint32(ks.flags), keySpecWords, "", r3)
	dst = appendStr(dst, "begin_search")
	dst = appendMapLen(dst, 2, r3)
	dst = appendStr(dst, "type")
	switch ks.begin {
	case beginIndex:
		dst = appendStr(dst, "index")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 1, r3)
		dst = appendStr(dst, "index")
		dst = appendInt(dst, int64(ks.index))
	case beginKeyword:
		dst = appendStr(dst, "keyword")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 2, r3)
		dst = appendStr(dst, "keyword")
		dst = appendStr(dst, ks.keyword)
		dst = appendStr(dst, "startfrom")
		dst = appendInt(dst, int64(ks.startFrom))
	default:
		dst = appendStr(dst, "unknown")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 0, r3)
	}
	dst = appendStr(dst, "find_keys")
	dst = appendMapLen(dst, 2, r3)
	dst = appendStr(dst, "type")
	switch ks.find {
	case findRange:
		dst = appendStr(dst, "range")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 3, r3)
		dst = appendStr(dst, "lastkey")
		dst = appendInt(dst, int64(ks.lastKey))
		dst = appendStr(dst, "keystep")
		dst = appendInt(dst, int64(ks.step))
		dst = appendStr(dst, "limit")
		dst = appendInt(dst, int64(ks.limit))
	case findKeynum:
		dst = appendStr(dst, "keynum")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 3, r3)
		dst = appendStr(dst, "keynumidx")
		dst = appendInt(dst, int64(ks.keyNumIdx))
		dst = appendStr(dst, "firstkey")
		dst = appendInt(dst, int64(ks.firstKey))
		dst = appendStr(dst, "keystep")
		dst = appendInt(dst, int64(ks.step))
	default:
		dst = appendStr(dst, "unknown")
		dst = appendStr(dst, "spec")
		dst = appendMapLen(dst, 0, r3)
	}
	return dst
}

// howServed says in a line how walnut serves command i (COMMAND DOCS'
// summary).
func howServed(i int) string {
	switch policies[i].act {
	case actForward:
		return "walnut: forwarded to the server that owns its keys (all of them must be on one server)"
	case actMGet, actMSet, actSumInt:
		return "walnut: split by server, the replies merged"
	case actKeys, actDBSize, actRandomKey, actFlush, actScriptLoad, actScriptExists, actScriptFlush, actLastSave,
		actPubSubChannels, actPubSubNumSub, actPubSubNumPat:
		return "walnut: sent to every server, the replies merged"
	case actRelay:
		return "walnut: answered by one server, whose text it is"
	case actScan:
		return "walnut: walks the servers one after another, with a cursor that names the server"
	case actTime, actFunctionDump, actFunctionHelp:
		return "walnut: answered by the first server"
	case actFunctionLoad, actFunctionDelete, actFunctionFlush, actFunctionRestore:
		return "walnut: sent to every server, which must agree; walnut loads the pool's libraries again on a server that lost them"
	case actFunctionList:
		return "walnut: sent to every server; the first one's answer if they all list the same libraries"
	case actFunctionStats:
		return "walnut: sent to every server, merged: the running script from the server that runs one"
	case actScriptKill:
		return "walnut: sent to every server on connections of its own; the busy server's answer wins"
	case actPlaceholder:
		return "walnut: forwarded to the server that owns the key \"placeholder\", as nutcracker does"
	case actInfo:
		return "walnut: walnut's figures; INFO servers gives every server's"
	case actMulti, actExec, actDiscard, actWatch, actUnwatch:
		return "walnut: a transaction, on a connection to the server of its first key (every key of it must live there)"
	case actBlock, actXRead:
		return "walnut: a blocking command, on a connection of its own to the server of its keys"
	case actSubscribe, actUnsubscribe, actPSubscribe, actPUnsubscribe:
		return "walnut: pub/sub, on the client's own connections to the servers of its channels"
	case actPublish:
		return "walnut: forwarded to the server its channel hashes to"
	case actWait:
		return "walnut: answered 0 outside a transaction; queued on the transaction's server inside one"
	}
	if commandTable[i].container {
		return "walnut: see the subcommands"
	}
	return "walnut: answered by walnut"
}

// docGroup is the documentation group Redis files a command under,
// guessed from its ACL categories.
func docGroup(c *commandInfo) string {
	groups := []struct {
		acl  aclCategories
		name string
	}{{aclString, "string"}, {aclList, "list"}, {aclSet, "set"}, {aclSortedSet, "sorted-set"}, {aclHash, "hash"},
		{aclPubSub, "pubsub"}, {aclHyperLogLog, "hyperloglog"}, {aclGeo, "geo"}, {aclStream, "stream"},
		{aclBitmap, "bitmap"}, {aclScripting, "scripting"}, {aclTransaction, "transactions"},
		{aclConnection, "connection"}, {aclKeyspace, "generic"}}
	for _, g := range groups {
		if c.acl&g.acl != 0 {
			return g.name
		}
	}
	return "server"
}

// appendCommandDocs appends command i's COMMAND DOCS entry, a map:
// summary, group and, for a container, its served subcommands.
func appendCommandDocs(dst []byte, i int, docs [][]byte, r3 bool) []byte {
	c := &commandTable[i]
	var subs []int
	if c.container {
		for _, j := range subcommands(i) {
			if docs[j] != nil {
				subs = append(subs, j)
			}
		}
	}
	n := 2
	if len(subs) > 0 {
		n = 3
	}
	dst = appendMapLen(dst, n, r3)
	dst = appendStr(dst, "summary")
	dst = appendStr(dst, howServed(i))
	dst = appendStr(dst, "group")
	dst = appendStr(dst, docGroup(c))
	if len(subs) > 0 {
		dst = appendStr(dst, "subcommands")
		dst = appendMapLen(dst, len(subs), r3)
		for _, j := range subs {
			dst = appendStr(dst, commandTable[j].name)
			dst = append(dst, docs[j]...)
		}
	}
	return dst
}

// lookupName finds a command by the name a client gives COMMAND INFO
// ("get", "CLIENT|SETNAME"), or -1.
func lookupName(name []byte) int {
	if len(name) > maxNameLen {
		return -1
	}
	return find(strings.ToLower(string(name)))
}

// commandReply answers COMMAND and its subcommands.
func commandReply(req *protocols.Request, act action) {
	r3 := isResp3(req)
	m := meta()
	if r3 {
		m = meta3()
	}
	args := req.Args
	req.Kind = protocols.Local
	r := req.Reply[:0]
	switch act {
	case actCommand:
		r = append(r, m.infoAll...)
	case actCommandCount:
		r = append(r, m.countTop...)
	case actCommandList:
		if len(args) > 2 {
			localError(req, "walnut does not support COMMAND LIST ", "FILTERBY", "")
			return
		}
		r = append(r, m.listAll...)
	case actCommandInfo, actCommandDocs:
		table, all := m.info, m.infoAll
		if act == actCommandDocs {
			table, all = m.docs, m.docsAll
		}
		if len(args) == 2 {
			r = append(r, all...)
			break
		}
		if act == actCommandInfo {
			r = appendCount(r, '*', len(args)-2)
			for _, a := range args[2:] {
				if i := lookupName(a); i >= 0 && table[i] != nil {
					r = append(r, table[i]...)
				} else {
					r = appendNull(r, r3)
				}
			}
			break
		}
		// DOCS is a map that leaves out unknown names.
		n := 0
		for _, a := range args[2:] {
			if i := lookupName(a); i >= 0 && table[i] != nil {
				n++
			}
		}
		r = appendMapLen(r, n, r3)
		for _, a := range args[2:] {
			if i := lookupName(a); i >= 0 && table[i] != nil {
				r = appendStr(r, commandTable[i].name)
				r = append(r, table[i]...)
			}
		}
	case actCommandGetKeys:
		r = appendGetKeys(r, args[2:])
	}
	req.Reply = r
}

// hasKeyArguments reports whether some key spec of c names keys (Redis'
// doesCommandHaveKeys: a spec not marked not_key).
func hasKeyArguments(c *commandInfo) bool {
	for _, ks := range c.keySpecs {
		if ks.flags&ksNotKey == 0 {
			return true
		}
	}
	return false
}

// appendGetKeys answers COMMAND GETKEYS with the keys walnut routes the
// command by, with Redis' errors.
func appendGetKeys(dst []byte, args [][]byte) []byte {
	idx, _ := lookup(args)
	if idx < 0 {
		return append(dst, "-ERR Invalid command specified\r\n"...)
	}
	c := &commandTable[idx]
	// In Redis' order: a command without keys at all, then the arity,
	// then a call in which its specs find none, which is no error for a
	// command whose keys are optional (EVAL with numkeys 0).
	if !hasKeyArguments(c) {
		return append(dst, "-ERR The command has no key arguments\r\n"...)
	}
	if a := int(c.arity); (a > 0 && len(args) != a) || len(args) < -a {
		return append(dst, "-ERR Invalid number of arguments specified for command\r\n"...)
	}
	var keys [][]byte
	if c.name == "sort" {
		keys = sortKeys(nil, args)
	} else {
		keys = appendKeys(nil, c, args)
	}
	if len(keys) == 0 {
		if c.flags&flagNoMandatoryKeys != 0 {
			return append(dst, "*0\r\n"...)
		}
		return append(dst, "-ERR Invalid arguments specified for command\r\n"...)
	}
	dst = appendCount(dst, '*', len(keys))
	for _, k := range keys {
		dst = appendBulk(dst, k)
	}
	return dst
}
