//go:build unix

package flowmeter

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// stdinFD is the descriptor openStdin reads; tests point it elsewhere.
var stdinFD = 0

// openStdin returns standard input for reading a capture, through a
// descriptor of its own. A pipe or socket is read without blocking the
// thread, by the runtime's poller, so that closing it ends a read that
// waits for its writer (ReadPcaps closes it when its context ends).
func openStdin() (*os.File, error) {
	fd, err := unix.Dup(stdinFD)
	if err != nil {
		return nil, fmt.Errorf("standard input: %w", err)
	}
	unix.CloseOnExec(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("standard input: %w", err)
	}
	if typ := st.Mode & unix.S_IFMT; typ == unix.S_IFIFO || typ == unix.S_IFSOCK {
		// The flag is the pipe's, shared with the descriptor 0 it came
		// from; nothing else reads it.
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("standard input: %w", err)
		}
	}
	return os.NewFile(uintptr(fd), "standard input"), nil
}
