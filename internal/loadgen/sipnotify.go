package loadgen

import (
	"context"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// The NOTIFY body: a PIDF document (RFC 3863) with an open tuple and a
// person (RFC 4479) whose note is "<run>:<unix nanos>", the time the
// NOTIFY was rendered, so that the watchers' streams can time the
// delivery. Odd CSeqs say Available (no activity: the open tuple
// decides), even ones Busy (RPID, RFC 4480), so that every NOTIFY of a
// dialog is a change.
const (
	pidfHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"` +
		` xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="`
	pidfTuple = `"><tuple id="bench"><status><basic>open</basic></status></tuple><dm:person id="p">`
	pidfBusy  = `<rpid:activities><rpid:busy/></rpid:activities>`
	pidfNote  = `<dm:note>`
	pidfTail  = `</dm:note></dm:person></presence>`
)

// writeNotify renders d's next NOTIFY into its connection's buffer (the
// caller flushes) and records it as pending, holding a place in slot
// when not nil.
func (s *sipServer) writeNotify(d *sipDialog, slot chan struct{}, measured bool) {
	n := s.seq.Add(1)
	now := time.Now().UnixNano()
	s.pmu.Lock()
	s.pending[n] = pendingNotify{d: d, sent: now, slot: slot, measured: measured}
	s.pmu.Unlock()
	if measured {
		s.counts.sent.Add(1)
	}

	var noteBuf [48]byte
	note := strconv.AppendInt(append(append(noteBuf[:0], s.run...), ':'), now, 10)
	c := d.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	d.cseq++
	busy := d.cseq%2 == 0
	size := len(pidfHead) + len(d.entity) + len(pidfTuple) + len(pidfNote) + len(note) + len(pidfTail)
	if busy {
		size += len(pidfBusy)
	}
	b := append(c.scratch[:0], d.head...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, d.mid...)
	b = strconv.AppendUint(b, uint64(d.cseq), 10)
	b = append(b, " NOTIFY\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, "\r\n\r\n"+pidfHead...)
	b = append(b, d.entity...)
	b = append(b, pidfTuple...)
	if busy {
		b = append(b, pidfBusy...)
	}
	b = append(b, pidfNote...)
	b = append(b, note...)
	b = append(b, pidfTail...)
	_, _ = c.bw.Write(b) // a failed connection is noticed by its reader
	c.scratch = b
}

// sendInitial sends the first NOTIFY of a dialog (RFC 6665 §4.2.1.2:
// at once after the 200), outside any window and never measured.
func (s *sipServer) sendInitial(d *sipDialog) {
	s.counts.initialSent.Add(1)
	s.writeNotify(d, nil, false)
	d.conn.flush()
}

// sendNotifies sends NOTIFYs round-robin over the dialogs for dur (or
// until ctx ends) at perSecond in total (0: as fast as the window
// allows), keeping at most window of them unanswered, and at most one
// per dialog: presenced handles the requests of a connection
// concurrently, so a second NOTIFY of a dialog could overtake the first
// and be refused as out of order. NOTIFYs are buffered while more may be
// sent at once and flushed before the loop waits.
func (s *sipServer) sendNotifies(ctx context.Context, dur time.Duration, perSecond float64, window int) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	n, _ := s.dialogCount()
	slot := make(chan struct{}, max(1, min(window, n)))
	var lim *rate.Limiter
	if perSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/100)))
	}
	var dirty *sipConn
	flush := func() {
		if dirty != nil {
			dirty.flush()
			dirty = nil
		}
	}
	defer flush()
	next := 0
	for ctx.Err() == nil {
		select {
		case slot <- struct{}{}:
		default:
			flush()
			select {
			case slot <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		if lim != nil {
			if wait := lim.Reserve().Delay(); wait > 0 {
				flush()
				if !sleep(ctx, wait) {
					<-slot
					return
				}
			}
		}
		d := s.pick(&next)
		if d == nil { // every dialog busy (or none left): wait a little
			<-slot
			flush()
			if !sleep(ctx, time.Millisecond) {
				return
			}
			continue
		}
		if dirty != nil && dirty != d.conn {
			flush()
		}
		s.writeNotify(d, slot, s.measuring.Load())
		dirty = d.conn
	}
}

// drainNotifies waits up to wait for the answers of the NOTIFYs in
// flight; those still unanswered then count as unanswered.
func (s *sipServer) drainNotifies(ctx context.Context, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for s.inFlight() > 0 && time.Now().Before(deadline) {
		if !sleep(ctx, 10*time.Millisecond) {
			break
		}
	}
	s.failPending(func(p pendingNotify) bool { return p.slot != nil })
}
