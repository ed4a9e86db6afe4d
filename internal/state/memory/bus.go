package memory

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/internal/state"
)

// bus is the state.Bus of a State. Each subscription has a bounded queue
// drained by its own goroutine; Publish never blocks on a subscription and
// counts a drop when its queue is full.
type bus struct {
	s         *State
	queueSize int
	dropped   atomic.Uint64

	// ctx is the parent of every subscription's context; cancelling it
	// stops them all. wg counts the running drain goroutines.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards topics. Publish holds it for reading while it enqueues, so
	// a subscription removed under the write lock gets no further
	// messages.
	mu     sync.RWMutex
	topics map[string]map[*subscription]struct{}
}

var _ state.Bus = (*bus)(nil)

// subscription is one Subscribe call.
type subscription struct {
	queue   chan []byte
	handler func([]byte)
	cancel  context.CancelFunc
	done    chan struct{} // closed when the drain goroutine has returned
}

func newBus(s *State, queueSize int) *bus {
	ctx, cancel := context.WithCancel(context.Background())
	return &bus{
		s:         s,
		queueSize: queueSize,
		ctx:       ctx,
		cancel:    cancel,
		topics:    make(map[string]map[*subscription]struct{}),
	}
}

func (b *bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := b.s.check(ctx, "publish"); err != nil {
		return err
	}
	// One copy, shared read-only by every subscription.
	msg := slices.Clone(payload)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for sub := range b.topics[topic] {
		select {
		case sub.queue <- msg:
		default:
			b.dropped.Add(1)
		}
	}
	return nil
}

func (b *bus) Subscribe(ctx context.Context, topic string, handler func([]byte)) (func(), error) {
	if err := b.s.check(ctx, "subscribe"); err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(b.ctx)
	sub := &subscription{
		queue:   make(chan []byte, b.queueSize),
		handler: handler,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	b.mu.Lock()
	// Checked again under the lock: Close may have run since check, and
	// must not miss a subscription it would then never stop.
	if b.s.closed.Load() {
		b.mu.Unlock()
		cancel()
		return nil, state.ErrClosed
	}
	subs := b.topics[topic]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		b.topics[topic] = subs
	}
	subs[sub] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()

	go func() {
		defer b.wg.Done()
		defer close(sub.done)
		sub.drain(subCtx)
	}()

	var once sync.Once
	return func() {
		once.Do(func() { b.unsubscribe(topic, sub) })
	}, nil
}

// unsubscribe removes sub from topic and waits for its goroutine.
func (b *bus) unsubscribe(topic string, sub *subscription) {
	b.mu.Lock()
	if subs := b.topics[topic]; subs != nil {
		delete(subs, sub)
		if len(subs) == 0 {
			delete(b.topics, topic)
		}
	}
	b.mu.Unlock()
	sub.cancel()
	<-sub.done
}

// close stops every subscription and waits for their goroutines. The
// caller has already marked the State closed, so no subscription is added
// once close holds the lock.
func (b *bus) close() {
	b.mu.Lock()
	clear(b.topics)
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// drain calls the handler for each queued message until ctx is cancelled.
// Messages still queued then are discarded: nobody listens any more.
func (sub *subscription) drain(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-sub.queue:
			// select picks at random among ready cases; do not start a
			// handler call once the subscription is stopping.
			if ctx.Err() != nil {
				return
			}
			sub.handler(msg)
		}
	}
}
