package auth

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/internal/auth/oidctest"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/store"
)

const audience = "presenced-test"

// newVerifier returns a verifier for iss whose clock starts at the wall
// clock's now, since oidctest signs with wall-clock times.
func newVerifier(iss *oidctest.Issuer) (*OIDCVerifier, *clocktest.Clock) {
	clk := clocktest.New(time.Now())
	v := NewOIDCVerifier(OIDCConfig{
		Issuer:     iss.URL(),
		Audience:   audience,
		HTTPClient: iss.Client(),
		Clock:      clk,
	}, nil)
	return v, clk
}

func TestOIDCVerify(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v, _ := newVerifier(iss)
	valid := func() jwt.MapClaims { return iss.Claims("Alice@Example.com", audience) }
	with := func(k string, val any) jwt.MapClaims {
		c := valid()
		c[k] = val
		return c
	}
	without := func(k string) jwt.MapClaims {
		c := valid()
		delete(c, k)
		return c
	}
	good := iss.Sign(valid())
	parts := strings.Split(good, ".")
	// The same signature over another payload.
	forgedPayload := strings.Join([]string{parts[0], strings.Split(iss.Sign(with("email", "mallory@example.com")), ".")[1], parts[2]}, ".")
	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		raw   string
		email string // accepted with this email, or
		why   string // refused with an error containing this
	}{
		{name: "valid, email lower-cased", raw: good, email: "alice@example.com"},
		{name: "audience list", raw: iss.Sign(with("aud", []string{"other", audience})), email: "alice@example.com"},
		{name: "email_verified true", raw: iss.Sign(with("email_verified", true)), email: "alice@example.com"},
		{name: "expired", raw: iss.Sign(with("exp", time.Now().Add(-time.Minute).Unix())), why: "expired"},
		{name: "no expiry", raw: iss.Sign(without("exp")), why: "expired"},
		{name: "wrong audience", raw: iss.Sign(with("aud", "someone-else")), why: "audience"},
		{name: "no audience", raw: iss.Sign(without("aud")), why: "audience"},
		{name: "wrong issuer", raw: iss.Sign(with("iss", "https://evil.example.com")), why: "different provider"},
		{name: "unknown key id", raw: iss.SignWithUnknownKey(valid()), why: "signature"},
		{name: "bad signature under a known key id", raw: iss.SignWithUnknownKey(valid(), oidctest.WithKeyID("key-1")), why: "signature"},
		{name: "forged payload", raw: forgedPayload, why: "signature"},
		{name: "truncated signature", raw: good[:len(good)-4], why: "signature"},
		{name: "alg none", raw: noneToken, why: "algorithm"},
		{name: "missing email", raw: iss.Sign(without("email")), why: "no string claim"},
		{name: "email not a string", raw: iss.Sign(with("email", 42)), why: "no string claim"},
		{name: "email not an email", raw: iss.Sign(with("email", "alice")), why: "not an email"},
		{name: "email with space", raw: iss.Sign(with("email", "alice smith@example.com")), why: "not an email"},
		{name: "email with a bad domain", raw: iss.Sign(with("email", "alice@exa_mple.com")), why: "not an email"},
		{name: "email_verified false", raw: iss.Sign(with("email_verified", false)), why: "not verified"},
		{name: "not a jwt", raw: "a.b.c", why: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, err := v.Verify(context.Background(), tt.raw)
			if tt.why != "" {
				if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tt.why) {
					t.Errorf("Verify = %q, %v; want ErrUnauthorized about %q", email, err, tt.why)
				}
				return
			}
			if err != nil || email != tt.email {
				t.Errorf("Verify = %q, %v; want %q", email, err, tt.email)
			}
		})
	}
}

func TestOIDCEmailClaim(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v := NewOIDCVerifier(OIDCConfig{
		Issuer: iss.URL(), Audience: audience, EmailClaim: "upn", HTTPClient: iss.Client(),
	}, nil)
	claims := iss.Claims("ignored@example.com", audience)
	claims["upn"] = "Bob@Corp.Example.com"
	email, err := v.Verify(context.Background(), iss.Sign(claims))
	if err != nil || email != "bob@corp.example.com" {
		t.Errorf("Verify = %q, %v; want bob@corp.example.com from the upn claim", email, err)
	}
}

func TestOIDCExpiryByClock(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v, clk := newVerifier(iss)
	tok := iss.Sign(iss.Claims("alice@example.com", audience)) // expires in an hour
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify fresh token: %v", err)
	}
	clk.Advance(time.Hour + time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Verify after expiry = %v, want ErrUnauthorized", err)
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v, _ := newVerifier(iss)
	ctx := context.Background()
	old := iss.Sign(iss.Claims("alice@example.com", audience))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("Verify before rotation: %v", err)
	}
	if got := iss.JWKSFetches(); got != 1 {
		t.Fatalf("JWKS fetches after the first verification = %d, want 1", got)
	}

	kid := iss.Rotate()
	rotated := iss.Sign(iss.Claims("bob@example.com", audience))
	email, err := v.Verify(ctx, rotated)
	if err != nil || email != "bob@example.com" {
		t.Fatalf("Verify token signed by new key %s = %q, %v", kid, email, err)
	}
	if got := iss.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetches after a token with an unknown kid = %d, want 2 (one refresh)", got)
	}
	// Both keys are cached now: no further fetches.
	for _, tok := range []string{old, rotated} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("Verify after rotation: %v", err)
		}
	}
	if got := iss.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetches for known kids = %d, want still 2", got)
	}
}

func TestOIDCIssuerDownThenUp(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	iss.SetDown(true)
	v, clk := newVerifier(iss)
	ctx := context.Background()
	tok := iss.Sign(iss.Claims("alice@example.com", audience))

	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify with the issuer down = %v, want ErrUnauthorized", err)
	}
	iss.SetDown(false)
	// Within the retry interval the failure is remembered, not retried.
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify right after = %v, want the remembered failure", err)
	}
	if got := iss.DiscoveryFetches(); got != 0 {
		t.Fatalf("discovery documents served within the retry interval = %d, want 0", got)
	}
	clk.Advance(discoveryRetry)
	email, err := v.Verify(ctx, tok)
	if err != nil || email != "alice@example.com" {
		t.Fatalf("Verify once the issuer is up = %q, %v", email, err)
	}
	// Discovery is done once and for all.
	iss.SetDown(true)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("Verify with keys cached while the issuer is down again = %v", err)
	}
	if got := iss.DiscoveryFetches(); got != 1 {
		t.Errorf("discovery fetches = %d, want 1", got)
	}
}

func TestOIDCUnreachableIssuer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v := NewOIDCVerifier(OIDCConfig{Issuer: "http://" + addr, Audience: audience}, nil)
	if _, err := v.Verify(context.Background(), "eyJh.eyJi.c2ln"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Verify against a closed port = %v, want ErrUnauthorized", err)
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	tok := iss.Sign(iss.Claims("alice@example.com", ""))
	for _, cfg := range []OIDCConfig{
		{Issuer: iss.URL(), HTTPClient: iss.Client()},
		{Audience: audience, HTTPClient: iss.Client()},
	} {
		v := NewOIDCVerifier(cfg, nil)
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Verify with config %+v = %v, want ErrUnauthorized", cfg, err)
		}
	}
	if got := iss.DiscoveryFetches(); got != 0 {
		t.Errorf("an incomplete config contacted the issuer %d times", got)
	}
}

func TestOIDCConcurrentFirstVerify(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v, _ := newVerifier(iss)
	tok := iss.Sign(iss.Claims("alice@example.com", audience))
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Verify #%d: %v", i, err)
		}
	}
	if got := iss.DiscoveryFetches(); got != 1 {
		t.Errorf("discovery fetches for %d concurrent first calls = %d, want 1", n, got)
	}
}

func TestClientWithOIDC(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	v, clk := newVerifier(iss)
	tokens := newFakeTokens()
	local, hash := addToken(t, tokens, store.ClientToken, "carol@example.com")
	a := NewAuthenticator(tokens, v, clk, nil)
	ctx := context.Background()
	jwtTok := iss.Sign(iss.Claims("Alice@Example.com", audience))

	p, err := a.Client(ctx, jwtTok)
	if err != nil || p != (Principal{User: "alice@example.com", TokenID: "oidc:alice@example.com"}) {
		t.Errorf("Client(jwt) = %+v, %v", p, err)
	}
	p, err = a.Client(ctx, local)
	if err != nil || p != (Principal{User: "carol@example.com", TokenID: TokenID(hash)}) {
		t.Errorf("Client(local token) = %+v, %v", p, err)
	}
	if _, err := a.Client(ctx, iss.Sign(iss.Claims("alice@example.com", "other"))); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Client(jwt for another audience) = %v, want ErrUnauthorized", err)
	}
	if _, err := a.Admin(ctx, jwtTok); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Admin(jwt) = %v, want ErrUnauthorized", err)
	}
	if got := tokens.lookupCount(); got != 1 {
		t.Errorf("store lookups = %d, want 1 (JWTs never reach the token store)", got)
	}
}
