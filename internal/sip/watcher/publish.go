package watcher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sip/locate"
)

// Publication is the result of a PUBLISH: the entity tag to name in the
// next one (SIP-If-Match) and how long the server keeps it.
type Publication struct {
	ETag    string
	Expires time.Duration
}

// Publish sends entity's presence document (RFC 3903) on its behalf
// from identity as, whose digest credentials answer a challenge: a
// refresh or modification of the publication etag names, or a new one
// when etag is empty. A server that no longer knows the tag answers 412, or 500 as
// Kamailio does; the document is then published afresh.
func (w *Watcher) Publish(ctx context.Context, as, entity string, pidf []byte, etag string, expires time.Duration) (Publication, error) {
	var uri sip.Uri
	if err := sip.ParseUri(entity, &uri); err != nil {
		return Publication{}, fmt.Errorf("watcher: publish entity %q: %w", entity, err)
	}
	if strings.ContainsAny(etag, "\r\n") {
		return Publication{}, fmt.Errorf("watcher: publish %s: entity tag %q holds a line break", entity, etag)
	}
	if expires <= 0 {
		expires = w.cfg.Expires
	}
	start, err := w.targetFor(ctx, entity)
	if err != nil {
		return Publication{}, fmt.Errorf("watcher: publish %s: %w", entity, err)
	}
	x, err := w.publishOnce(ctx, start, as, uri, pidf, etag, expires)
	if err == nil && etag != "" && (x.res.StatusCode == 412 || x.res.StatusCode == 500) {
		x, err = w.publishOnce(ctx, x.target, as, uri, pidf, "", expires)
	}
	w.settled(entity, start, x, err)
	if err != nil {
		return Publication{}, fmt.Errorf("watcher: publish %s: %w", entity, err)
	}
	if !x.res.IsSuccess() {
		return Publication{}, fmt.Errorf("watcher: publish %s: %w", entity, statusError("PUBLISH", x.res))
	}
	p := Publication{Expires: granted(x.res, expires)}
	if h := x.res.GetHeader("SIP-ETag"); h != nil {
		p.ETag = h.Value()
	}
	return p, nil
}

// publishOnce sends one PUBLISH of uri's document to t (following a
// redirect), answering a challenge with the credentials of identity as.
func (w *Watcher) publishOnce(ctx context.Context, t locate.Target, as string, uri sip.Uri, pidf []byte, etag string, expires time.Duration) (exchanged, error) {
	callID, tag, seq := newToken(), newToken(), uint32(0)
	return w.exchange(ctx, t, as, "", true, func() *sip.Request {
		seq++ // a retry after a challenge or redirect is the next CSeq
		req := sip.NewRequest(sip.PUBLISH, uri)
		from := &sip.FromHeader{Address: uri, Params: sip.NewParams()}
		from.Params.Add("tag", tag)
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
		cid := sip.CallIDHeader(callID)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.PUBLISH})
		req.AppendHeader(sip.NewHeader("Event", "presence"))
		exp := sip.ExpiresHeader(uint32(expires / time.Second))
		req.AppendHeader(&exp)
		if etag != "" {
			req.AppendHeader(sip.NewHeader("SIP-If-Match", etag))
		}
		if len(pidf) > 0 {
			ct := sip.ContentTypeHeader("application/pidf+xml")
			req.AppendHeader(&ct)
			req.SetBody(pidf)
		}
		return req
	})
}

// Ping sends an OPTIONS request to the located server over the watcher's
// connection and reports whether it answered 2xx: the server is reachable
// and serving.
func (w *Watcher) Ping(ctx context.Context, from string) error {
	var uri sip.Uri
	if err := sip.ParseUri(from, &uri); err != nil {
		return fmt.Errorf("watcher: ping identity %q: %w", from, err)
	}
	t, err := w.servers.Server(ctx)
	if err != nil {
		return fmt.Errorf("watcher: ping: locate server: %w", err)
	}
	if _, err := w.ping(ctx, t, uri); err != nil {
		return fmt.Errorf("watcher: ping %s: %w", t.String(), err)
	}
	return nil
}
