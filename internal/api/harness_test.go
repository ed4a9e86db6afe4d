package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/app/apptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// changesUntil polls the changes of token's subscription id since seq
// until they hold at least one contact.
func changesUntil(tb testing.TB, h *apptest.Harness, token, id string, since uint64) apptest.Changes {
	tb.Helper()
	var c apptest.Changes
	apptest.Eventually(tb, "a change of subscription "+id, func() bool {
		c = apptest.Decode[apptest.Changes](tb, h.Do("GET", fmt.Sprintf("/v1/subscriptions/%s/changes?since=%d", id, since), token, nil), http.StatusOK)
		return len(c.Presence) > 0
	})
	return c
}
