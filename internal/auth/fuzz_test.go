package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/auth/oidctest"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/email"
	"github.com/presenced/presenced/internal/store"
)

// FuzzBearerToken feeds arbitrary Authorization headers through
// BearerToken and the Authenticator: nothing panics, a returned token is a
// valid b64token, and only the one stored token authenticates.
func FuzzBearerToken(f *testing.F) {
	secret := "pcd_" + strings.Repeat("A", 43)
	tokens := newFakeTokens()
	if err := tokens.Create(context.Background(), store.Token{Hash: HashToken(secret), Kind: store.ClientToken, User: "a@example.com"}); err != nil {
		f.Fatal(err)
	}
	a := NewAuthenticator(tokens, nil, clocktest.New(t0), nil)
	for _, seed := range []string{
		"Bearer " + secret, "bearer abc", "Bearer a.b.c", "Bearer ..", "Basic x", "Bearer ", "Bearer  =", "Bearer a=b",
		"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "Bearer \x00", "BEARER pcd_", "Bearer pcd_\u00e9",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &http.Request{Header: http.Header{"Authorization": {header}}}
		tok, ok := BearerToken(r)
		if ok && (tok == "" || !validB64Token(tok) || strings.ContainsAny(tok, " \t")) {
			t.Fatalf("BearerToken(%q) = %q, true: not a b64token", header, tok)
		}
		if !ok && tok != "" {
			t.Fatalf("BearerToken(%q) = %q, false: token without ok", header, tok)
		}
		for _, bearer := range []string{header, tok} {
			p, err := a.Client(context.Background(), bearer)
			if bearer == secret {
				if err != nil || p.User != "a@example.com" {
					t.Fatalf("Client(stored token) = %+v, %v", p, err)
				}
				continue
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Client(%q) = %+v, %v; want ErrUnauthorized", bearer, p, err)
			}
			if _, err := a.Admin(context.Background(), bearer); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Admin(%q) = %v; want ErrUnauthorized", bearer, err)
			}
		}
	})
}

// FuzzOIDCVerify feeds arbitrary JWT-shaped input to a verifier of a local
// issuer: nothing panics, and nothing but a token the issuer signed is
// accepted.
func FuzzOIDCVerify(f *testing.F) {
	iss := oidctest.NewIssuer(f)
	v := NewOIDCVerifier(OIDCConfig{Issuer: iss.URL(), Audience: audience, HTTPClient: iss.Client()}, nil)
	good := iss.Sign(iss.Claims("alice@example.com", audience))
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good, good[:len(good)-1], parts[0] + "." + parts[1] + ".", "..", "a.b.c",
		parts[0] + ".e30." + parts[2], "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		iss.SignWithUnknownKey(iss.Claims("alice@example.com", audience)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		addr, err := v.Verify(context.Background(), raw)
		if raw == good {
			if err != nil || addr != "alice@example.com" {
				t.Fatalf("Verify(good) = %q, %v", addr, err)
			}
			return
		}
		if err == nil {
			// Not the seed token, yet accepted: only a re-encoding of a
			// token the issuer signed could be; the email must still be valid.
			if norm, err := email.Normalize(addr); err != nil || norm != addr {
				t.Fatalf("Verify(%q) accepted an unnormalised email %q", raw, addr)
			}
			return
		}
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Verify(%q) = %v; want ErrUnauthorized", raw, err)
		}
	})
}
