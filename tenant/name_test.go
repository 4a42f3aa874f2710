package tenant

import (
	"strings"
	"testing"
)

func TestTenantNameRule(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "0", "acme", "plant-1", "a-", "a--b", strings.Repeat("x", 63)} {
		if err := (Spec{Name: name}).Validate(); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
	for name, want := range map[string]string{
		"-lead":                 "must not start with '-'",
		"-":                     "must not start with '-'",
		"--help":                "must not start with '-'",
		"":                      "must be 1-63",
		"Acme":                  "must be 1-63",
		strings.Repeat("x", 64): "must be 1-63",
	} {
		err := (Spec{Name: name}).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("name %q: %v; want an error containing %q", name, err, want)
		}
	}
}
