package redis

import (
	"slices"
	"testing"
)

func TestCommandNames(t *testing.T) {
	names := CommandNames()
	if len(names) != len(commandTable) {
		t.Fatalf("%d names for %d commands", len(names), len(commandTable))
	}
	if !slices.IsSorted(names) {
		t.Error("names are not sorted")
	}
	for _, want := range []string{"get", "client", "client|list", "object|encoding"} {
		if !slices.Contains(names, want) {
			t.Errorf("%q is missing", want)
		}
	}
	// The harness may edit what it gets; the table must not change.
	names[0] = "changed"
	if CommandNames()[0] == "changed" {
		t.Error("CommandNames hands out the table's own storage")
	}
}
