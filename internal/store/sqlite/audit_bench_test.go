package sqlite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// benchEntry returns audit entry i, by one of ten actors, with a 1 KiB
// before and after: about the size of a settings change.
func benchEntry(i int) store.AuditEntry {
	value := `{"domains":"` + strings.Repeat("d", 1000) + `"}`
	return store.AuditEntry{
		At:     time.UnixMilli(1_800_000_000_000 + int64(i)),
		Actor:  fmt.Sprintf("admin%d", i%10),
		Action: "settings.update",
		Target: "settings",
		Before: value,
		After:  value,
		Remote: "192.0.2.7:50123",
	}
}

// BenchmarkAuditAppend appends 1 KiB entries, each its own transaction.
func BenchmarkAuditAppend(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Audit().Append(b.Context(), benchEntry(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditList reads a page of 50 from a log of 10,000 entries: the
// newest page, a page deep in the log, and the newest page of one actor.
func BenchmarkAuditList(b *testing.B) {
	s := benchStore(b)
	for i := range 10_000 {
		if _, err := s.Audit().Append(b.Context(), benchEntry(i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bm := range []struct {
		name string
		q    store.AuditQuery
	}{
		{"newest", store.AuditQuery{Limit: 50}},
		{"deep", store.AuditQuery{Limit: 50, BeforeID: 1000}},
		{"actor", store.AuditQuery{Limit: 50, Actor: "admin3"}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.Audit().List(b.Context(), bm.q)
				if err != nil || len(got) != 50 {
					b.Fatalf("List = %d entries, %v", len(got), err)
				}
			}
		})
	}
}
