package node

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeListsEveryMetric: README.md's Monitoring table lists every
// metric the collector describes, and no other.
func TestReadmeListsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Monitoring\n")
	if !ok {
		t.Fatal("README.md has no Monitoring section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(jmqx_[a-z_]+)` \\|")
	var listed []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	d := newDescs("n")
	var described []string
	for _, desc := range d.all() {
		described = append(described, fqName.FindStringSubmatch(desc.String())[1])
	}
	slices.Sort(listed)
	slices.Sort(described)
	if !slices.Equal(listed, described) {
		t.Errorf("README.md's Monitoring table lists\n%v\nthe collector describes\n%v", listed, described)
	}
}
