package files_test

import (
	"errors"
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

func TestValidateNamePaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"report.pdf", true},
		{"reports/2026/q3.pdf", true},
		{"a/.hidden", true},
		{"a/..b", true},
		{"/etc/passwd", false},
		{"a//b", false},
		{"a/", false},
		{"../up.txt", false},
		{"a/../../b", false},
		{"a/./b", false},
		{".", false},
		{"..", false},
		{"a/\x00b", false},
	} {
		err := files.ValidateName(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, files.ErrInvalidInput)) {
			t.Errorf("ValidateName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{{"", true}, {"a/", true}, {"a/b/", true}, {"a", false}, {"/", false}, {"a//", false}, {"../", false}} {
		if err := files.ValidateFolder(tc.prefix); (err == nil) != tc.ok {
			t.Errorf("ValidateFolder(%q) = %v, want ok %v", tc.prefix, err, tc.ok)
		}
	}
}
