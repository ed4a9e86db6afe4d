package loadgen

import (
	"math/rand/v2"
	"strconv"
)

// pool is the contact pool of a run: a seeded permutation of the D
// distinct contacts. Watcher w subscribes the C consecutive entries from
// position w*C (wrapping), so the watchers together cover
// min(W*C, D) distinct contacts, every contact has the same number of
// watchers to within one, and the draw is the same for the same seed.
type pool struct {
	perm []int32
	c    int64 // contacts per watcher
}

func newPool(distinct, contacts int, seed int64) *pool {
	perm := make([]int32, distinct)
	for i := range perm {
		perm[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x70726573656e6364))
	rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	return &pool{perm: perm, c: int64(contacts)}
}

// at returns the contact at position i of the endless sequence that
// repeats the permutation.
func (p *pool) at(i int64) int { return int(p.perm[i%int64(len(p.perm))]) }

// start returns the position of watcher w's first contact.
func (p *pool) start(w int) int64 { return int64(w) * p.c % int64(len(p.perm)) }

// covered returns how many distinct contacts w watchers subscribe.
func (p *pool) covered(w int) int { return int(min(int64(w)*p.c, int64(len(p.perm)))) }

// watchersOf returns, for every contact, how many of w watchers
// subscribe it.
func (p *pool) watchersOf(w int) []int32 {
	n := make([]int32, len(p.perm))
	for i := range w {
		s := p.start(i)
		for j := range p.c {
			n[p.at(s+j)]++
		}
	}
	return n
}

// appendUsers appends the JSON array of the n contacts from position
// from: ["contact-7@bench.test",...].
func (p *pool) appendUsers(b []byte, from int64, n int) []byte {
	b = append(b, '[')
	for k := range int64(n) {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = appendEmail(b, contactPrefix, p.at(from+k))
		b = append(b, '"')
	}
	return append(b, ']')
}

// appendEmail appends prefix-(i+1)@bench.test.
func appendEmail(b []byte, prefix string, i int) []byte {
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(i)+1, 10)
	return append(b, emailDomain...)
}

// subscribeBody is {"key":"bench","users":[n contacts from position from]}.
func (p *pool) subscribeBody(from int64, n int) []byte {
	b := make([]byte, 0, 32+n*28)
	b = append(b, `{"key":"`+subscriptionKey+`","users":`...)
	b = p.appendUsers(b, from, n)
	return append(b, '}')
}

// patchBody is {"remove":[...],"add":[...]} with nr contacts removed from
// position removeFrom and na added from position addFrom.
func (p *pool) patchBody(removeFrom int64, nr int, addFrom int64, na int) []byte {
	b := make([]byte, 0, 32+(nr+na)*28)
	b = append(b, '{')
	if nr > 0 {
		b = append(b, `"remove":`...)
		b = p.appendUsers(b, removeFrom, nr)
		if na > 0 {
			b = append(b, ',')
		}
	}
	if na > 0 {
		b = append(b, `"add":`...)
		b = p.appendUsers(b, addFrom, na)
	}
	return append(b, '}')
}
