package dialog

import (
	"errors"
	"fmt"
	"slices"

	"github.com/emiago/sipgo/sip"
)

// Errors of Dialog.Notify, which the caller answers with the SIP status
// given beside each.
var (
	// ErrNoDialog: the NOTIFY belongs to no dialog of this subscription
	// (481 Call/Transaction Does Not Exist).
	ErrNoDialog = errors.New("no such dialog")
	// ErrCSeqOrder: the NOTIFY's CSeq is not above the last one seen
	// (500, RFC 3261 §12.2.2).
	ErrCSeqOrder = errors.New("CSeq out of order")
	// ErrMalformed: the NOTIFY lacks a header a dialog needs (400).
	ErrMalformed = errors.New("malformed in-dialog request")
)

// Dialog is the state of one subscription dialog from the subscriber's
// side (RFC 6665 §4.1.2, RFC 3261 §12): identified by Call-ID, local
// tag and remote tag, with the route set and remote target learnt from
// the first NOTIFY or the 2xx to the SUBSCRIBE, whichever came first,
// and the CSeq counters of both directions.
//
// A Dialog is not safe for concurrent use; the subscription owning it
// serialises access.
type Dialog struct {
	CallID    string
	LocalTag  string
	RemoteTag string // empty until established
	// Local is the subscriber's identity (From), Remote the presentity
	// (To and the initial Request-URI).
	Local, Remote sip.Uri
	// Target is the peer's Contact: the Request-URI of requests in the
	// dialog once established.
	Target sip.Uri
	// RouteSet holds the Route headers of requests in the dialog, in the
	// order they are sent (loose routing, RFC 3261 §12.2.1.1).
	RouteSet  []sip.Uri
	LocalSeq  uint32 // CSeq of the last request sent
	remoteSeq uint32
	seenSeq   bool
	// Established reports whether the remote tag, route set and target
	// are known.
	Established bool
}

// New returns the dialog a new SUBSCRIBE from local to remote opens,
// with the given Call-ID, From tag and initial CSeq (the first request
// is sent with seq+1).
func New(local, remote sip.Uri, callID, localTag string, seq uint32) *Dialog {
	return &Dialog{CallID: callID, LocalTag: localTag, Local: local, Remote: remote, Target: remote, LocalSeq: seq}
}

// Request returns the next request of the dialog with the given method:
// Request-URI the remote target, From/To/Call-ID of the dialog, the next
// CSeq and the route set as Route headers. Before the dialog is
// established it is the initial request (To without tag, Request-URI the
// presentity). The caller adds Via, Contact, Event, Expires and the body.
func (d *Dialog) Request(method sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(method, d.Target)
	from := &sip.FromHeader{Address: d.Local, Params: sip.NewParams()}
	from.Params.Add("tag", d.LocalTag)
	to := &sip.ToHeader{Address: d.Remote, Params: sip.NewParams()}
	if d.RemoteTag != "" {
		to.Params.Add("tag", d.RemoteTag)
	}
	callID := sip.CallIDHeader(d.CallID)
	d.LocalSeq++
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.LocalSeq, MethodName: method})
	for _, r := range d.RouteSet {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	return req
}

// Accepted applies a 2xx answer to the dialog's SUBSCRIBE. If no NOTIFY
// has established the dialog yet, the answer does (RFC 3261 §12.1.2: the
// route set is the Record-Route reversed, the target its Contact). If one
// has, the NOTIFY's dialog stands. A 2xx with a To tag other than the
// established remote tag is a second dialog the subscriber does not
// keep: ErrNoDialog.
func (d *Dialog) Accepted(res *sip.Response) error {
	to := res.To()
	if to == nil || res.CallID() == nil || string(*res.CallID()) != d.CallID {
		return fmt.Errorf("%w: 2xx without To or with another Call-ID", ErrMalformed)
	}
	tag, _ := to.Params.Get("tag")
	if d.Established {
		if tag != d.RemoteTag {
			return fmt.Errorf("%w: 2xx to-tag %q, dialog has %q", ErrNoDialog, tag, d.RemoteTag)
		}
		return nil
	}
	if tag == "" {
		return fmt.Errorf("%w: 2xx without a To tag", ErrMalformed)
	}
	routes := recordRoutes(res)
	slices.Reverse(routes)
	return d.establish(tag, routes, res.Contact())
}

// Notify checks an incoming NOTIFY against the dialog and updates it: the
// first NOTIFY may arrive before the 2xx to the SUBSCRIBE and then
// establishes the dialog (RFC 6665 §4.1.2.4; as UAS the route set is the
// Record-Route in order). Later NOTIFYs must carry the dialog's tags and a
// growing CSeq, and refresh the remote target when they carry a Contact.
func (d *Dialog) Notify(req *sip.Request) error {
	from, to, callID, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || callID == nil || cseq == nil {
		return fmt.Errorf("%w: NOTIFY lacks From, To, Call-ID or CSeq", ErrMalformed)
	}
	remoteTag, _ := from.Params.Get("tag")
	localTag, _ := to.Params.Get("tag")
	if string(*callID) != d.CallID || localTag != d.LocalTag {
		return fmt.Errorf("%w: Call-ID %q to-tag %q", ErrNoDialog, string(*callID), localTag)
	}
	if remoteTag == "" {
		return fmt.Errorf("%w: NOTIFY without a From tag", ErrMalformed)
	}
	if d.Established && remoteTag != d.RemoteTag {
		return fmt.Errorf("%w: from-tag %q, dialog has %q", ErrNoDialog, remoteTag, d.RemoteTag)
	}
	if d.seenSeq && cseq.SeqNo <= d.remoteSeq {
		return fmt.Errorf("%w: %d after %d", ErrCSeqOrder, cseq.SeqNo, d.remoteSeq)
	}
	if !d.Established {
		if err := d.establish(remoteTag, recordRoutes(req), req.Contact()); err != nil {
			return err
		}
	} else if c := req.Contact(); c != nil {
		d.Target = c.Address // NOTIFY is a target refresh request
	}
	d.remoteSeq, d.seenSeq = cseq.SeqNo, true
	return nil
}

func (d *Dialog) establish(remoteTag string, routes []sip.Uri, contact *sip.ContactHeader) error {
	if contact == nil {
		return fmt.Errorf("%w: no Contact to take the remote target from", ErrMalformed)
	}
	d.RemoteTag, d.RouteSet, d.Target, d.Established = remoteTag, routes, contact.Address, true
	return nil
}

// recordRoutes returns the message's Record-Route URIs in header order.
func recordRoutes(m interface{ GetHeaders(string) []sip.Header }) []sip.Uri {
	var out []sip.Uri
	for _, h := range m.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			out = append(out, rr.Address)
		}
	}
	return out
}
