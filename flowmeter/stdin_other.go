//go:build !unix

package flowmeter

import "os"

// openStdin returns standard input for reading a capture.
func openStdin() (*os.File, error) { return os.Stdin, nil }
