//go:build !unix

package client

import (
	"errors"
	"os"
)

// dupFile is not available here: files are sent through the generic path.
func dupFile(*os.File) (*os.File, error) { return nil, errors.ErrUnsupported }
