package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version describes this build, for bug reports and the logs: the module's
// version, the commit it was built from (and whether the tree had changes),
// and Go's version and platform.
func version() string {
	v, commit := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		var revision, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if revision != "" {
			commit = ", commit " + revision
			if modified == "true" {
				commit += " with changes"
			}
		}
	}
	return fmt.Sprintf("alfd %s%s, %s %s/%s", v, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	if err := parseArgs(fs, args, nil); err != nil {
		return err
	}
	_, err := fmt.Fprintln(e.stdout, version())
	return err
}
