package watcher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Publication is the result of a PUBLISH: the entity tag to name in the
// next one (SIP-If-Match) and how long the server keeps it.
type Publication struct {
	ETag    string
	Expires time.Duration
}

// Publish sends entity's presence document (RFC 3903): a refresh or
// modification of the publication etag names, or a new one when etag is
// empty. A server that no longer knows the tag answers 412, or 500 as
// Kamailio does; the document is then published afresh.
func (w *Watcher) Publish(ctx context.Context, entity string, pidf []byte, etag string, expires time.Duration) (Publication, error) {
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
	res, err := w.publishOnce(ctx, uri, pidf, etag, expires)
	if err == nil && etag != "" && (res.StatusCode == 412 || res.StatusCode == 500) {
		res, err = w.publishOnce(ctx, uri, pidf, "", expires)
	}
	if err != nil {
		return Publication{}, fmt.Errorf("watcher: publish %s: %w", entity, err)
	}
	if !res.IsSuccess() {
		return Publication{}, fmt.Errorf("watcher: publish %s: %w", entity, &StatusError{"PUBLISH", res.StatusCode, res.Reason})
	}
	p := Publication{Expires: granted(res, expires)}
	if h := res.GetHeader("SIP-ETag"); h != nil {
		p.ETag = h.Value()
	}
	return p, nil
}

func (w *Watcher) publishOnce(ctx context.Context, uri sip.Uri, pidf []byte, etag string, expires time.Duration) (*sip.Response, error) {
	req := sip.NewRequest(sip.PUBLISH, uri)
	from := &sip.FromHeader{Address: uri, Params: sip.NewParams()}
	from.Params.Add("tag", newToken())
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	callID := sip.CallIDHeader(newToken())
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.PUBLISH})
	req.AppendHeader(sip.NewHeader("Event", "presence"))
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	if etag != "" {
		req.AppendHeader(sip.NewHeader("SIP-If-Match", etag))
	}
	req.SetDestination(w.cfg.Server)
	req.SetTransport("TCP")
	if len(pidf) > 0 {
		ct := sip.ContentTypeHeader("application/pidf+xml")
		req.AppendHeader(&ct)
		req.SetBody(pidf)
	}
	return w.client.Do(ctx, req)
}

// Ping sends an OPTIONS request to the server over the watcher's
// connection and reports whether it answered 2xx: the server is reachable
// and serving.
func (w *Watcher) Ping(ctx context.Context, from string) error {
	var uri sip.Uri
	if err := sip.ParseUri(from, &uri); err != nil {
		return fmt.Errorf("watcher: ping identity %q: %w", from, err)
	}
	host, port, err := sip.ParseAddr(w.cfg.Server)
	if err != nil {
		return fmt.Errorf("watcher: ping: %w", err)
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
	f := &sip.FromHeader{Address: uri, Params: sip.NewParams()}
	f.Params.Add("tag", newToken())
	req.AppendHeader(f)
	req.SetDestination(w.cfg.Server)
	req.SetTransport("TCP")
	res, err := w.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("watcher: ping %s: %w", w.cfg.Server, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("watcher: ping %s: %w", w.cfg.Server, &StatusError{"OPTIONS", res.StatusCode, res.Reason})
	}
	return nil
}
