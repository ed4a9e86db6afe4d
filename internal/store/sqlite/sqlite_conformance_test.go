package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/store/storetest"
)

// openIn opens the store file presenced.db in dir.
func openIn(t *testing.T, dir string) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "presenced.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openIn(t, t.TempDir()) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, openIn)
}
