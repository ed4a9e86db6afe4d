package probe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/probe"
)

// outcome is what a test checks of a Report: the names of the steps run,
// whether the last failed, and a substring of the last step's detail.
type outcome struct {
	Steps  []string
	Failed bool
}

// check compares r with the wanted steps and failure, and checks that the
// last step's detail holds detail and no step's detail holds a secret.
func check(t *testing.T, r probe.Report, steps []string, failed bool, detail string, secrets ...string) {
	t.Helper()
	var got outcome
	for _, s := range r.Steps {
		got.Steps = append(got.Steps, s.Name)
	}
	_, got.Failed = r.Failed()
	if diff := cmp.Diff(outcome{Steps: steps, Failed: failed}, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s\nreport: %s", diff, dump(r))
	}
	if got.Failed == r.OK() {
		t.Errorf("OK() = %v with a failed step %v", r.OK(), got.Failed)
	}
	if n := len(r.Steps); n > 0 && !strings.Contains(r.Steps[n-1].Detail, detail) {
		t.Errorf("last step's detail %q does not contain %q\nreport: %s", r.Steps[n-1].Detail, detail, dump(r))
	}
	for _, s := range r.Steps {
		for _, sec := range secrets {
			if strings.Contains(s.Detail, sec) {
				t.Errorf("step %q reveals a secret: %q", s.Name, s.Detail)
			}
		}
	}
	t.Logf("report: %s", dump(r))
}

func dump(r probe.Report) string {
	var b strings.Builder
	for _, s := range r.Steps {
		ok := "ok"
		if !s.OK {
			ok = "FAILED"
		}
		b.WriteString("\n  " + s.Name + " [" + ok + ", " + s.Duration.Round(time.Millisecond).String() + "]: " + s.Detail)
	}
	return b.String()
}

// ctx is a test's context with a deadline of d.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return c
}

func TestReport(t *testing.T) {
	tests := []struct {
		name   string
		r      probe.Report
		ok     bool
		failed bool
	}{
		{"empty", probe.Report{}, false, false},
		{"all ok", probe.Report{Steps: []probe.Step{{Name: "a", OK: true}, {Name: "b", OK: true}}}, true, false},
		{"last failed", probe.Report{Steps: []probe.Step{{Name: "a", OK: true}, {Name: "b"}}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, failed := tt.r.Failed()
			if diff := cmp.Diff([]bool{tt.ok, tt.failed}, []bool{tt.r.OK(), failed}); diff != "" {
				t.Errorf("OK, Failed (-want +got):\n%s", diff)
			}
		})
	}
}
