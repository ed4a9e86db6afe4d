package browsertest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// processesUsing returns the ids of the processes whose command line holds
// --user-data-dir=dir. Chromium passes the flag to every child process
// (zygote, renderers, network service), and each Browser has its own
// directory, so this finds exactly one browser's processes, including
// children that outlived the main process. Without /proc (not Linux) it
// finds nothing.
func processesUsing(dir string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	flag := []byte("--user-data-dir=" + dir)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // exited meanwhile, or not ours to read
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Equal(arg, flag) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}
