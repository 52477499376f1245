package sdk

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// Logger's lines must be what go-plugin's host parses as hclog entries,
// or walnut would log them as plain text at the wrong level.
func TestLoggerWritesHCLogJSON(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf).Warn("table built", "servers", 3)
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if entry["@level"] != "warn" || entry["@message"] != "table built" || entry["servers"] != 3.0 {
		t.Errorf("entry %v", entry)
	}
	ts, _ := entry["@timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
		t.Errorf("timestamp %q: %v", ts, err)
	}
}
