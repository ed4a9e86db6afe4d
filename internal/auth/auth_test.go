package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fakeTokens is a store.TokenStore in memory that counts lookups.
type fakeTokens struct {
	mu      sync.Mutex
	tokens  map[[32]byte]store.Token // guarded by mu
	lookups int                      // guarded by mu
	err     error                    // guarded by mu; returned by Lookup when set
}

var _ store.TokenStore = (*fakeTokens)(nil)

func newFakeTokens() *fakeTokens { return &fakeTokens{tokens: make(map[[32]byte]store.Token)} }

func (f *fakeTokens) Create(_ context.Context, t store.Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tokens[t.Hash]; ok {
		return store.ErrConflict
	}
	f.tokens[t.Hash] = t
	return nil
}

func (f *fakeTokens) Lookup(_ context.Context, hash [32]byte) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return store.Token{}, f.err
	}
	t, ok := f.tokens[hash]
	if !ok {
		return store.Token{}, store.ErrNotFound
	}
	return t, nil
}

func (f *fakeTokens) remove(hash [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, hash)
}

func (f *fakeTokens) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeTokens) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// addToken creates a token of kind for user in f and returns its secret.
func addToken(t *testing.T, f *fakeTokens, kind store.TokenKind, user string) (string, [32]byte) {
	t.Helper()
	secret, hash, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	if err := f.Create(context.Background(), store.Token{Hash: hash, Kind: kind, User: user, CreatedAt: t0}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return secret, hash
}

func TestClientAndAdmin(t *testing.T) {
	tokens := newFakeTokens()
	client, clientHash := addToken(t, tokens, store.ClientToken, "alice@example.com")
	admin, adminHash := addToken(t, tokens, store.AdminToken, "")
	odd, _ := addToken(t, tokens, store.TokenKind("robot"), "r@example.com")
	unknown, _, _ := NewToken()
	a := NewAuthenticator(tokens, nil, clocktest.New(t0), nil)

	type result struct {
		P   Principal
		Err error
	}
	tests := []struct {
		name   string
		bearer string
		client result
		admin  result
	}{
		{
			name:   "client token",
			bearer: client,
			client: result{P: Principal{User: "alice@example.com", TokenID: TokenID(clientHash)}},
			admin:  result{Err: ErrForbidden},
		},
		{
			name:   "admin token",
			bearer: admin,
			client: result{Err: ErrForbidden},
			admin:  result{P: Principal{Admin: true, TokenID: TokenID(adminHash)}},
		},
		{name: "unknown token", bearer: unknown, client: result{Err: ErrUnauthorized}, admin: result{Err: ErrUnauthorized}},
		{name: "unknown kind", bearer: odd, client: result{Err: ErrUnauthorized}, admin: result{Err: ErrUnauthorized}},
		{name: "empty", bearer: "", client: result{Err: ErrUnauthorized}, admin: result{Err: ErrUnauthorized}},
		{name: "malformed", bearer: "pcd_short", client: result{Err: ErrUnauthorized}, admin: result{Err: ErrUnauthorized}},
		{name: "jwt without oidc", bearer: "eyJh.eyJi.c2ln", client: result{Err: ErrUnauthorized}, admin: result{Err: ErrUnauthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var got result
			got.P, got.Err = a.Client(ctx, tt.bearer)
			if diff := cmp.Diff(tt.client, got, cmp.Comparer(sameSentinel)); diff != "" {
				t.Errorf("Client (-want +got):\n%s", diff)
			}
			got.P, got.Err = a.Admin(ctx, tt.bearer)
			if diff := cmp.Diff(tt.admin, got, cmp.Comparer(sameSentinel)); diff != "" {
				t.Errorf("Admin (-want +got):\n%s", diff)
			}
		})
	}
}

// sameSentinel compares a wanted sentinel with a got error by errors.Is.
func sameSentinel(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return errors.Is(a, b) || errors.Is(b, a)
}

func TestErrorsDoNotContainToken(t *testing.T) {
	tokens := newFakeTokens()
	client, _ := addToken(t, tokens, store.ClientToken, "alice@example.com")
	admin, _ := addToken(t, tokens, store.AdminToken, "")
	unknown, _, _ := NewToken()
	a := NewAuthenticator(tokens, nil, clocktest.New(t0), nil)
	ctx := context.Background()
	for _, call := range []struct {
		name   string
		bearer string
		f      func(context.Context, string) (Principal, error)
	}{
		{"Admin(client)", client, a.Admin},
		{"Client(admin)", admin, a.Client},
		{"Client(unknown)", unknown, a.Client},
	} {
		_, err := call.f(ctx, call.bearer)
		if err == nil {
			t.Fatalf("%s: no error", call.name)
		}
		if msg := err.Error(); strings.Contains(msg, call.bearer) || strings.Contains(msg, call.bearer[4:20]) {
			t.Errorf("%s: error %q contains token text", call.name, msg)
		}
	}
}

func TestCacheHitSkipsStore(t *testing.T) {
	tokens := newFakeTokens()
	client, _ := addToken(t, tokens, store.ClientToken, "alice@example.com")
	clk := clocktest.New(t0)
	a := NewAuthenticator(tokens, nil, clk, nil)
	ctx := context.Background()

	for i := range 5 {
		if _, err := a.Client(ctx, client); err != nil {
			t.Fatalf("Client #%d: %v", i, err)
		}
		clk.Advance(time.Second)
	}
	if got := tokens.lookupCount(); got != 1 {
		t.Errorf("store lookups after 5 calls within the cache ttl = %d, want 1", got)
	}
	// The admin API shares the cache: the same token is found without a
	// lookup and refused as the wrong kind.
	if _, err := a.Admin(ctx, client); !errors.Is(err, ErrForbidden) {
		t.Errorf("Admin(client token) = %v, want ErrForbidden", err)
	}
	if got := tokens.lookupCount(); got != 1 {
		t.Errorf("store lookups = %d, want 1", got)
	}
}

func TestCacheExpiry(t *testing.T) {
	tokens := newFakeTokens()
	client, hash := addToken(t, tokens, store.ClientToken, "alice@example.com")
	clk := clocktest.New(t0)
	a := NewAuthenticator(tokens, nil, clk, nil)
	ctx := context.Background()

	if _, err := a.Client(ctx, client); err != nil {
		t.Fatalf("Client: %v", err)
	}
	tokens.remove(hash)
	clk.Advance(hitTTL - time.Nanosecond)
	if _, err := a.Client(ctx, client); err != nil {
		t.Errorf("Client just before the cache ttl after removal = %v, want the cached token", err)
	}
	clk.Advance(time.Nanosecond)
	if _, err := a.Client(ctx, client); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Client at the cache ttl after removal = %v, want ErrUnauthorized", err)
	}
	if got := tokens.lookupCount(); got != 2 {
		t.Errorf("store lookups = %d, want 2", got)
	}
}

func TestNegativeCache(t *testing.T) {
	tokens := newFakeTokens()
	clk := clocktest.New(t0)
	a := NewAuthenticator(tokens, nil, clk, nil)
	ctx := context.Background()
	secret, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}

	for range 3 {
		if _, err := a.Client(ctx, secret); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Client(unknown) = %v, want ErrUnauthorized", err)
		}
	}
	if got := tokens.lookupCount(); got != 1 {
		t.Errorf("store lookups for a repeated unknown token = %d, want 1", got)
	}
	// Created meanwhile: found once the short negative entry expires.
	if err := tokens.Create(ctx, store.Token{Hash: hash, Kind: store.ClientToken, User: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(missTTL)
	p, err := a.Client(ctx, secret)
	if err != nil {
		t.Fatalf("Client after the negative ttl = %v", err)
	}
	if p.User != "bob@example.com" {
		t.Errorf("User = %q, want bob@example.com", p.User)
	}
	// Malformed secrets never reach the store.
	before := tokens.lookupCount()
	for _, bad := range []string{"", "nope", "pcd_x", "Bearer " + secret} {
		_, _ = a.Client(ctx, bad)
	}
	if got := tokens.lookupCount(); got != before {
		t.Errorf("malformed tokens caused %d store lookups", got-before)
	}
}

func TestStoreFailure(t *testing.T) {
	tokens := newFakeTokens()
	client, _ := addToken(t, tokens, store.ClientToken, "alice@example.com")
	a := NewAuthenticator(tokens, nil, clocktest.New(t0), nil)
	ctx := context.Background()
	boom := errors.New("disk on fire")
	tokens.setErr(boom)

	_, err := a.Client(ctx, client)
	if !errors.Is(err, boom) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
		t.Fatalf("Client with a failing store = %v, want the store error and no auth sentinel", err)
	}
	// Failures are not cached: the next call succeeds once the store does.
	tokens.setErr(nil)
	if _, err := a.Client(ctx, client); err != nil {
		t.Errorf("Client after the store recovered = %v", err)
	}
}

func TestTTLCacheBounded(t *testing.T) {
	clk := clocktest.New(t0)
	c := newTTLCache[int](clk, time.Minute, 64)
	for i := range 1000 {
		c.put(cacheKey(i), i)
		if n := c.len(); n > 64 {
			t.Fatalf("after %d puts the cache holds %d entries, bound 64", i+1, n)
		}
	}
	if v, ok := c.get(cacheKey(999)); !ok || v != 999 {
		t.Errorf("get(last) = %d, %v; want the newest entry", v, ok)
	}
	// Expired entries are dropped first when room is needed.
	clk.Advance(time.Minute)
	c.put(cacheKey(-1), -1)
	if n := c.len(); n != 1 {
		t.Errorf("after expiry and one put the cache holds %d entries, want 1", n)
	}
}

func cacheKey(i int) [32]byte { return HashToken(strconv.Itoa(i)) }

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		ok      bool
	}{
		{"bearer", []string{"Bearer abc"}, "abc", true},
		{"scheme case", []string{"bEaReR abc"}, "abc", true},
		{"extra spaces", []string{"Bearer   abc"}, "abc", true},
		{"jwt", []string{"Bearer eyJh.eyJi.sig-_"}, "eyJh.eyJi.sig-_", true},
		{"padding", []string{"Bearer YWJj=="}, "YWJj==", true},
		{"all b64token chars", []string{"Bearer aZ09-._~+/="}, "aZ09-._~+/=", true},
		{"absent", nil, "", false},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", false},
		{"basic", []string{"Basic YWJj"}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"empty token", []string{"Bearer "}, "", false},
		{"only padding", []string{"Bearer =="}, "", false},
		{"padding inside", []string{"Bearer a=b"}, "", false},
		{"two words", []string{"Bearer a b"}, "", false},
		{"tab", []string{"Bearer\tabc"}, "", false},
		{"bearerX", []string{"Bearerx abc"}, "", false},
		{"non-ascii", []string{"Bearer abcé"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, ok := BearerToken(r)
			if got != tt.want || ok != tt.ok {
				t.Errorf("BearerToken = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
