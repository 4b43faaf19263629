package files

import (
	"errors"
	"fmt"
)

// Sort keys of a listing (GET /v1/files?sort=).
const (
	SortName     = "name"
	SortSize     = "size"
	SortModified = "modified" // the file's created_at: a file's bytes never change after it is stored
)

// ErrBadSort is a sort or order parameter that is not one of the listing's values.
var ErrBadSort = errors.New("files: bad sort")

// Sort is the order of a listing. The zero Sort is the listing's default (today's order:
// names at a folder level, newest first in the flat listing); ties are broken by id, in the
// direction of the sort.
type Sort struct {
	Key  string // "", SortName, SortSize or SortModified
	Desc bool
}

// ParseSort reads the sort and order parameters (each may be empty).
func ParseSort(key, order string) (Sort, error) {
	var s Sort
	switch key {
	case "", SortName, SortSize, SortModified:
		s.Key = key
	default:
		return s, fmt.Errorf("%w: sort must be name, size or modified", ErrBadSort)
	}
	switch order {
	case "", "asc":
	case "desc":
		s.Desc = true
	default:
		return s, fmt.Errorf("%w: order must be asc or desc", ErrBadSort)
	}
	if s.Key == "" && order != "" {
		s.Key = SortName // an order alone orders by name
	}
	return s, nil
}
