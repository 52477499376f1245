package redis

// appendKeys appends the arguments that c's key specs name as keys, in
// spec order, the way Redis' getKeysUsingKeySpecs does: a keyword that is
// absent, an "unknown" spec and a count that is not a number contribute
// nothing, and positions past the arguments are skipped (the server will
// reject such a request itself; walnut only needs to know where to send
// it).
func appendKeys(keys [][]byte, c *commandInfo, args [][]byte) [][]byte {
	argc := len(args)
	for s := range c.keySpecs {
		ks := &c.keySpecs[s]
		if ks.flags&ksNotKey != 0 {
			continue
		}
		var first int
		switch ks.begin {
		case beginIndex:
			first = int(ks.index)
		case beginKeyword:
			first = keywordSearch(ks, args)
			if first == 0 {
				continue
			}
		default:
			continue
		}
		var last int
		switch ks.find {
		case findRange:
			switch {
			case ks.lastKey >= 0:
				last = first + int(ks.lastKey)
			case ks.limit == 0:
				last = argc + int(ks.lastKey)
			default:
				last = first + (argc-first)/int(ks.limit) + int(ks.lastKey)
			}
		case findKeynum:
			at := first + int(ks.keyNumIdx)
			if at >= argc {
				continue
			}
			n, ok := parseInt(args[at])
			if !ok || n < 0 {
				continue
			}
			// Clamp before adding: numkeys comes from the client and
			// must not make the loop below run past the arguments.
			if n > int64(argc) {
				n = int64(argc)
			}
			first += int(ks.firstKey)
			last = first + int(n) - 1
		default:
			continue
		}
		if last >= argc {
			last = argc - 1
		}
		step := int(ks.step)
		if step < 1 {
			step = 1
		}
		for i := first; i <= last; i += step {
			if i >= 1 {
				keys = append(keys, args[i])
			}
		}
	}
	return keys
}

// keywordSearch returns the position after the spec's keyword, or 0. The
// loop bounds are Redis' own: from startFrom towards the end (excluding
// the last argument, which could not be followed by a key), or for a
// negative startFrom from that far from the end back to argument 1.
func keywordSearch(ks *keySpec, args [][]byte) int {
	argc := len(args)
	start, end := int(ks.startFrom), argc-1
	if start <= 0 {
		start, end = argc+start, 0
	}
	for i := start; i != end; {
		if i >= argc || i < 1 {
			break
		}
		if equalFold(args[i], ks.keyword) {
			return i + 1
		}
		if start <= end {
			i++
		} else {
			i--
		}
	}
	return 0
}

// sortKeys finds SORT's keys as Redis' sortGetKeys does: the sorted key
// and, after skipping the arguments of LIMIT, GET and BY, the last STORE
// destination.
func sortKeys(keys [][]byte, args [][]byte) [][]byte {
	keys = append(keys, args[1])
	store := -1
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case equalFold(a, "LIMIT"):
			i += 2
		case equalFold(a, "GET"), equalFold(a, "BY"):
			i++
		case equalFold(a, "STORE") && i+1 < len(args):
			store = i + 1
		}
	}
	if store > 0 {
		keys = append(keys, args[store])
	}
	return keys
}

// hasDBOption reports whether a COPY names a destination database.
func hasDBOption(args [][]byte) bool {
	for i := 3; i < len(args); i++ {
		if equalFold(args[i], "DB") {
			return true
		}
	}
	return false
}

// equalFold compares b with upper, an upper-case ASCII word.
func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// parseUint parses b as an unsigned decimal within 64 bits (leading
// zeros allowed, as SCAN cursors may have them).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses b as Redis' string2ll does: an optional '-', no '+',
// no spaces, no leading zeros, within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	v, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
