package sip

import (
	"context"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backoff"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/pidf"
	"github.com/presenced/presenced/internal/sip/dialog"
	"github.com/presenced/presenced/internal/status"
)

// publishTimeout bounds one refresh of a publication.
const publishTimeout = 32 * time.Second

// publication is one user's presence as this instance published it. Its
// fields are guarded by Backend.mu.
type publication struct {
	body     []byte // the PIDF document, sent again by each refresh
	addr     string // the user's SIP address
	etag     string
	timer    clock.Timer
	failures int
	stopped  bool
}

func (p *publication) stop() {
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
}

// Publish PUBLISHes user's presence under the user's own SIP address and
// keeps it published: the publication is refreshed (SIP-If-Match, the
// same document) before it expires until the next Publish or Run ends;
// presenced's own presence has no expiry.
func (b *Backend) Publish(ctx context.Context, user string, p status.Presence) error {
	addr, reason, err := b.resolve(ctx, user)
	if err != nil {
		return fmt.Errorf("sip backend: resolve %s: %w", user, err)
	}
	if reason != status.NoReason {
		return fmt.Errorf("sip backend: publish %s: the directory says %s: %w", user, reason, backend.ErrUnsupported)
	}
	body, err := pidf.Build(addr, p, b.tupleID, b.cfg.Clock.Now())
	if err != nil {
		return fmt.Errorf("sip backend: publish %s: %w", user, err)
	}
	b.mu.Lock()
	old := b.pubs[user]
	etag := ""
	if old != nil {
		etag = old.etag
		old.stop()
	}
	pub := &publication{body: body, etag: etag, addr: addr}
	b.pubs[user] = pub
	b.mu.Unlock()
	return b.publish(ctx, user, pub)
}

// publish sends pub's document and schedules its refresh, or a retry
// after a failure once pub is established.
func (b *Backend) publish(ctx context.Context, user string, pub *publication) error {
	b.mu.RLock()
	body, etag, addr := pub.body, pub.etag, pub.addr
	b.mu.RUnlock()
	res, err := b.w.Publish(ctx, b.cfg.Primary, addr, body, etag, b.cfg.Expires)
	b.mu.Lock()
	defer b.mu.Unlock()
	if pub.stopped || b.pubs[user] != pub {
		return err // replaced meanwhile; the caller learns how its own PUBLISH went
	}
	if err != nil {
		if etag == "" && pub.failures == 0 && pub.timer == nil {
			delete(b.pubs, user) // never published: nothing to keep
			return fmt.Errorf("sip backend: %w", err)
		}
		pub.failures++
		pub.timer = b.cfg.Clock.AfterFunc(backoff.Equal(pub.failures, time.Second, time.Minute), func() { b.refreshPublication(user, pub) })
		return fmt.Errorf("sip backend: %w", err)
	}
	pub.etag, pub.failures = res.ETag, 0
	pub.timer = b.cfg.Clock.AfterFunc(res.Expires-dialog.RefreshLead(res.Expires), func() { b.refreshPublication(user, pub) })
	return nil
}

// refreshPublication is the timer callback of a publication.
func (b *Backend) refreshPublication(user string, pub *publication) {
	b.mu.RLock()
	stopped := pub.stopped
	b.mu.RUnlock()
	if stopped {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := b.publish(ctx, user, pub); err != nil {
		b.log.Info("publication refresh failed", "user", user, "error", err)
	}
}
