// Package auth authenticates client and admin API calls: local API tokens
// kept as hashes in the store, bearer JWTs of an optional OIDC issuer, and
// per-principal rate limiting.
//
// The package never writes HTTP responses: it returns errors wrapping
// ErrUnauthorized or ErrForbidden, which the API layer maps to problem+json
// in one place. Any other error is an internal failure (the store is
// unreachable, say). Token text never appears in errors or logs.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrUnauthorized: the credential is missing, malformed, unknown,
	// expired, for another audience, or otherwise not acceptable (401).
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrForbidden: the credential is valid but of the wrong kind for
	// this API, such as a client token on the admin API (403).
	ErrForbidden = errors.New("auth: forbidden")
)

// Principal is an authenticated caller.
type Principal struct {
	// User is the caller's email; empty for admin tokens.
	User string
	// Admin reports whether the caller used an admin token.
	Admin bool
	// TokenID identifies the credential without revealing it, for rate
	// limiting and debug logs: TokenID(hash) for local tokens, "oidc:"
	// followed by the email for JWTs.
	TokenID string
}

// Cache bounds. A found token is trusted for hitTTL, so a token removed
// from the store keeps working that long at most; an unknown one is
// remembered only briefly, so a token created just after a failed try works
// almost at once.
const (
	hitTTL    = 30 * time.Second
	maxHits   = 10000
	missTTL   = 3 * time.Second
	maxMisses = 1000
)

// Authenticator checks the bearer credentials of API calls. It is safe for
// concurrent use.
type Authenticator struct {
	tokens store.TokenStore
	oidc   *OIDCVerifier // nil: JWTs are refused
	hits   *ttlCache[store.Token]
	misses *ttlCache[struct{}]
	logger *slog.Logger
}

// NewAuthenticator returns an Authenticator that looks local tokens up in
// tokens and, when oidc is not nil, accepts that issuer's JWTs on the client
// API. Lookups are cached by token hash, timed by clk.
func NewAuthenticator(tokens store.TokenStore, oidc *OIDCVerifier, clk clock.Clock, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{
		tokens: tokens,
		oidc:   oidc,
		hits:   newTTLCache[store.Token](clk, hitTTL, maxHits),
		misses: newTTLCache[struct{}](clk, missTTL, maxMisses),
		logger: logger,
	}
}

// Client authenticates a call of the client API. It accepts client tokens
// and, when an OIDC verifier is configured, the issuer's JWTs (any bearer
// with exactly two dots is taken for a JWT). An admin token is refused with
// ErrForbidden.
func (a *Authenticator) Client(ctx context.Context, bearer string) (Principal, error) {
	if isJWT(bearer) {
		if a.oidc == nil {
			return Principal{}, fmt.Errorf("%w: jwt bearer tokens are not enabled", ErrUnauthorized)
		}
		email, err := a.oidc.Verify(ctx, bearer)
		if err != nil {
			return Principal{}, err
		}
		return Principal{User: email, TokenID: "oidc:" + email}, nil
	}
	tok, id, err := a.local(ctx, bearer)
	if err != nil {
		return Principal{}, err
	}
	switch tok.Kind {
	case store.ClientToken:
		return Principal{User: tok.User, TokenID: id}, nil
	case store.AdminToken:
		return Principal{}, fmt.Errorf("%w: admin token on the client api", ErrForbidden)
	default:
		return Principal{}, fmt.Errorf("%w: token of unknown kind %q", ErrUnauthorized, tok.Kind)
	}
}

// Admin authenticates a call of the admin API. It accepts only admin
// tokens; a client token is refused with ErrForbidden and anything else
// (JWTs included) with ErrUnauthorized.
func (a *Authenticator) Admin(ctx context.Context, bearer string) (Principal, error) {
	tok, id, err := a.local(ctx, bearer)
	if err != nil {
		return Principal{}, err
	}
	switch tok.Kind {
	case store.AdminToken:
		return Principal{Admin: true, TokenID: id}, nil
	case store.ClientToken:
		return Principal{}, fmt.Errorf("%w: client token on the admin api", ErrForbidden)
	default:
		return Principal{}, fmt.Errorf("%w: token of unknown kind %q", ErrUnauthorized, tok.Kind)
	}
}

// local finds the stored token for secret, through the caches, and returns
// it with its TokenID.
func (a *Authenticator) local(ctx context.Context, secret string) (store.Token, string, error) {
	if !looksLikeToken(secret) {
		return store.Token{}, "", fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	hash := HashToken(secret)
	id := TokenID(hash)
	if tok, ok := a.hits.get(hash); ok {
		return tok, id, nil
	}
	if _, ok := a.misses.get(hash); ok {
		return store.Token{}, "", fmt.Errorf("%w: unknown token", ErrUnauthorized)
	}
	tok, err := a.tokens.Lookup(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.misses.put(hash, struct{}{})
		return store.Token{}, "", fmt.Errorf("%w: unknown token", ErrUnauthorized)
	case err != nil:
		a.logger.Warn("token lookup failed", "err", err)
		return store.Token{}, "", fmt.Errorf("look up token: %w", err)
	}
	a.hits.put(hash, tok)
	return tok, id, nil
}

// isJWT reports whether s has the shape of a compact JWS (three parts).
func isJWT(s string) bool { return strings.Count(s, ".") == 2 }

// BearerToken returns the credential of an "Authorization: Bearer X"
// header (the scheme is case-insensitive). It reports false when the header
// is absent, repeated, of another scheme, or X is empty or contains
// characters outside RFC 6750's b64token.
func BearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if !validB64Token(token) {
		return "", false
	}
	return token, true
}

// validB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		if !isBase64URL(c) && c != '.' && c != '~' && c != '+' && c != '/' {
			return false
		}
	}
	return true
}
