package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// readyPoll is how often WaitReady probes.
const readyPoll = 50 * time.Millisecond

// Process is a server started by Start, running in its own process group.
// Its methods are safe for concurrent use.
type Process struct {
	cmd      *exec.Cmd
	name     string        // base name of the binary, for messages
	done     chan struct{} // closed when cmd has been waited for
	stopOnce sync.Once
}

// Start starts cmd with its standard output and error written to a new file
// at logPath, and waits for it in the background. cmd runs in a new process
// group (Setpgid is turned on in cmd.SysProcAttr, whose other fields, such
// as Pdeathsig, are kept) so that Stop reaches every process the server
// forks. The caller must call Stop.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, name: filepath.Base(cmd.Path), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// WaitReady calls ready every 50 milliseconds until it returns nil, the
// process exits, or timeout has passed. The error says which, with the
// last error of ready on timeout and the exit status on exit.
func (p *Process) WaitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		select {
		case <-p.done:
			// Wait has returned, so ProcessState is set.
			return fmt.Errorf("%s exited during startup: %v", p.name, p.cmd.ProcessState)
		case <-tick.C:
		}
	}
}

// Stop sends sig to the process group, waits for the process to exit,
// sending SIGKILL to the group if it has not after grace, and finally
// sends SIGKILL to the group again so that no child outlives the server
// and keeps its ports. It is idempotent: later calls wait for the first.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, sig)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}
