package adminauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDirectory accepts ada@example.com with goodPassword as a group
// member and grace@example.com (right password) as a non-member.
type fakeDirectory struct {
	calls atomic.Int32
	down  atomic.Bool
}

func (d *fakeDirectory) login(_ context.Context, name, password string) (string, error) {
	d.calls.Add(1)
	switch {
	case d.down.Load():
		return "", fmt.Errorf("dial: %w", ErrDirectoryUnavailable)
	case strings.EqualFold(name, "ada@example.com") && password == goodPassword:
		return "ada@example.com", nil
	case strings.EqualFold(name, "ada") && password == goodPassword:
		return "ada@example.com", nil
	}
	return "", ErrInvalidCredentials // grace, wrong passwords, unknown names
}

func TestDirectoryLogin(t *testing.T) {
	d := &fakeDirectory{}
	f := newFixture(t, Config{Directory: d.login})
	f.addAccount(t, "root")
	ctx := context.Background()

	tests := []struct {
		name, login, password string
		want                  string // outcome, or "ok NAME"
	}{
		{"local account first", "root", goodPassword, "ok root"},
		{"directory member by mail", "ada@example.com", goodPassword, "ok directory:ada@example.com"},
		{"directory member by account name", "ada", goodPassword, "ok directory:ada@example.com"},
		{"directory wrong password", "ada@example.com", "nope", "invalid"},
		{"directory not in the group", "grace@example.com", goodPassword, "invalid"},
		{"a name with spaces goes to the directory", "Ada Lovelace", goodPassword, "invalid"},
		{"control characters never reach the directory", "ada\x00@example.com", goodPassword, "invalid"},
		{"too long never reaches the directory", strings.Repeat("a", MaxDirectoryLogin+1), goodPassword, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct, err := f.m.Authenticate(ctx, tt.login, tt.password, ip1)
			got := outcome(err)
			if err == nil {
				got = "ok " + acct.Name
				if acct.Directory != strings.HasPrefix(acct.Name, DirectoryPrefix) {
					t.Errorf("Directory = %v for %q", acct.Directory, acct.Name)
				}
			}
			if got != tt.want {
				t.Errorf("Authenticate(%q) = %s, want %s", tt.login, got, tt.want)
			}
		})
	}

	t.Run("refused names are not sent", func(t *testing.T) {
		before := d.calls.Load()
		for _, name := range []string{"", "ada\n", strings.Repeat("x", MaxDirectoryLogin+1), "\xff"} {
			// Refused names share one lockout key, so the later ones may be locked.
			if _, err := f.m.Authenticate(ctx, name, goodPassword, ip2); !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrLocked) {
				t.Errorf("Authenticate(%q) = %v, want ErrInvalidCredentials or ErrLocked", name, err)
			}
		}
		if n := d.calls.Load() - before; n != 0 {
			t.Errorf("the directory was asked %d times about refused names", n)
		}
	})
}

func TestDirectoryLoginFailuresLock(t *testing.T) {
	d := &fakeDirectory{}
	f := newFixture(t, Config{Directory: d.login, MaxFailures: 2})
	ctx := context.Background()
	for range 2 {
		if _, err := f.m.Authenticate(ctx, "ada@example.com", "wrong", ip1); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	before := d.calls.Load()
	_, err := f.m.Authenticate(ctx, "ada@example.com", goodPassword, ip2)
	if got := outcome(err); !strings.HasPrefix(got, "locked") {
		t.Fatalf("after 2 failures = %s, want locked", got)
	}
	if d.calls.Load() != before {
		t.Error("a locked name was still checked against the directory")
	}
}

func TestDirectoryUnavailable(t *testing.T) {
	d := &fakeDirectory{}
	d.down.Store(true)
	f := newFixture(t, Config{Directory: d.login, MaxFailures: 1})
	f.addAccount(t, "root")
	ctx := context.Background()
	_, err := f.m.Authenticate(ctx, "ada@example.com", goodPassword, ip1)
	if !errors.Is(err, ErrDirectoryUnavailable) {
		t.Fatalf("directory down = %v, want ErrDirectoryUnavailable", err)
	}
	// An outage is not a failed login: nothing is locked, and local
	// accounts still work.
	if _, err := f.m.Authenticate(ctx, "root", goodPassword, ip1); err != nil {
		t.Fatalf("local login while the directory is down: %v", err)
	}
	rec := httptest.NewRecorder()
	f.m.WriteError(rec, httptest.NewRequest(http.MethodPost, "/admin/api/login", nil), err)
	got := struct {
		status int
		retry  string
	}{rec.Code, rec.Header().Get("Retry-After")}
	if diff := cmp.Diff(struct {
		status int
		retry  string
	}{http.StatusServiceUnavailable, "5"}, got, cmp.AllowUnexported(got)); diff != "" {
		t.Errorf("WriteError (-want +got):\n%s", diff)
	}
	if !strings.Contains(rec.Body.String(), `"code":"backend_unavailable"`) {
		t.Errorf("body %s lacks the code backend_unavailable", rec.Body)
	}
}

func TestNoDirectoryKeepsLocalOnly(t *testing.T) {
	f := newFixture(t, Config{})
	if _, err := f.m.Authenticate(context.Background(), "ada@example.com", goodPassword, ip1); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("without a directory = %v, want ErrInvalidCredentials", err)
	}
}
