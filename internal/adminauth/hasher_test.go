package adminauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"
)

// testParams are cheap so that tests run fast; production uses
// DefaultParams.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTestHasher(t *testing.T, maxConcurrent int) *Hasher {
	t.Helper()
	h, err := NewHasher(testParams, maxConcurrent)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 0)
	const pw = "correct horse battery"
	encoded, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("Hash = %q, want the PHC argon2id prefix with m=64,t=1,p=1", encoded)
	}
	// The stored key is argon2id of the password with the stored salt.
	parsed, err := parsePHC(encoded)
	if err != nil {
		t.Fatal(err)
	}
	want := argon2.IDKey([]byte(pw), parsed.Salt, 1, 64, 1, 32)
	if diff := cmp.Diff(want, parsed.Key); diff != "" {
		t.Errorf("stored key differs from argon2.IDKey (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"right", pw, true},
		{"wrong", "correct horse battery!", false},
		{"prefix", "correct horse batter", false},
		{"empty", "", false},
		{"too long", strings.Repeat("x", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(ctx, tt.pw, encoded)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Verify(%q) = %v, want %v", tt.pw, got, tt.want)
			}
		})
	}
	other, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if other == encoded {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashRefusesPasswords(t *testing.T) {
	h := newTestHasher(t, 0)
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrPasswordTooShort},
		{"11 chars", "abcdefghijk", ErrPasswordTooShort},
		{"12 chars", "abcdefghijkl", nil},
		{"12 code points, more bytes", "ääääääääääää", nil},
		{"11 code points, 22 bytes", "äääääääääää", ErrPasswordTooShort},
		{"max bytes", strings.Repeat("x", MaxPasswordLen), nil},
		{"over max bytes", strings.Repeat("x", MaxPasswordLen+1), ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Hash(context.Background(), tt.pw)
			if !errors.Is(err, tt.want) {
				t.Errorf("Hash error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewHasherRefusesParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"no threads", Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"no time", Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory below 8*p", Params{Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHasher(tt.p, 1); err == nil {
				t.Errorf("NewHasher(%+v) succeeded", tt.p)
			}
		})
	}
	if _, err := NewHasher(DefaultParams, 0); err != nil {
		t.Errorf("NewHasher(DefaultParams): %v", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newTestHasher(t, 0)
	good, err := h.Hash(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuuFv4CqzK0v2r8M3w7L3sYf6Xb5lP2m"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"param missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key},
		{"memory below 8p", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"threads over 255", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"urlsafe alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-"},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"trailing field", good + "$x"},
		{"no leading $", good[1:]},
		{"too long", good + strings.Repeat("A", maxPHCLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), "correct horse battery", tt.encoded)
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tt.encoded, ok, err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := newTestHasher(t, 0)
	encoded, err := h.Hash(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	stronger, err := NewHasher(Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := []bool{h.NeedsRehash(encoded), stronger.NeedsRehash(encoded), h.NeedsRehash("garbage")}
	if diff := cmp.Diff([]bool{false, true, true}, got); diff != "" {
		t.Errorf("NeedsRehash (same, stronger, garbage) (-want +got):\n%s", diff)
	}
}

// blockingDerive replaces a Hasher's derive: each call announces itself
// on entered, then waits for a value on release. It tracks how many calls
// run at once.
type blockingDerive struct {
	entered chan struct{}
	release chan struct{}
	running atomic.Int32
	maxSeen atomic.Int32
}

func (b *blockingDerive) derive(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
	n := b.running.Add(1)
	for {
		m := b.maxSeen.Load()
		if n <= m || b.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	b.entered <- struct{}{}
	<-b.release
	b.running.Add(-1)
	return make([]byte, keyLen)
}

func TestConcurrencyBound(t *testing.T) {
	const limit, callers = 2, 6
	h := newTestHasher(t, limit)
	b := &blockingDerive{entered: make(chan struct{}), release: make(chan struct{})}
	h.derive = b.derive

	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "correct horse battery"); err != nil {
				t.Error(err)
			}
		})
	}
	// Both slots are taken once two hashes have entered.
	<-b.entered
	<-b.entered

	// With every slot held, a caller whose context ends gives up.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "correct horse battery"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context and no free slot: err = %v, want context.Canceled", err)
	}
	if _, err := h.Verify(ctx, "correct horse battery", h.dummy.String()); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context and no free slot: err = %v, want context.Canceled", err)
	}

	// Let the rest through one at a time: each release frees one slot.
	for range callers - limit {
		b.release <- struct{}{}
		<-b.entered
	}
	for range limit {
		b.release <- struct{}{}
	}
	wg.Wait()
	if got := b.maxSeen.Load(); got != limit {
		t.Errorf("at most %d hashes ran at once, want %d", got, limit)
	}
}

// BenchmarkHashDefault measures one login's hashing cost with the
// production parameters (64 MiB, t=3, p=4).
func BenchmarkHashDefault(b *testing.B) {
	h, err := NewHasher(DefaultParams, 1)
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash(context.Background(), goodPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(context.Background(), goodPassword, encoded); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
