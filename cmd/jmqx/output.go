package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// writeJSON prints v as the --json output: indented by two spaces, HTML
// characters left alone, and a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table is a text table whose columns are separated by two spaces.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table on w with the header row.
func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds one row; empty cells are shown as "-".
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = dash(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// flush writes the table out.
func (t *table) flush() error { return t.tw.Flush() }

// dash returns s, or "-" if it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listenerNames are the keys of NodeListeners.Listeners, in the order the
// tables show them.
var listenerNames = []string{"mqtt", "mqtts", "ws", "wss"}

// listenerCells returns the addresses of listeners in the order of
// listenerNames.
func listenerCells(listeners map[string]string) []string {
	cells := make([]string, len(listenerNames))
	for i, name := range listenerNames {
		cells[i] = listeners[name]
	}
	return cells
}

// formatCounts returns m as "key=n" pairs sorted by key, "" if empty.
func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.FormatInt(m[k], 10))
	}
	return strings.Join(parts, ",")
}

// formatRate returns a per-second rate with one decimal.
func formatRate(f float64) string {
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// yesNo returns "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
