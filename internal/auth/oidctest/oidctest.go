// Package oidctest runs a local OpenID Connect issuer for tests: an
// httptest server on loopback serving a discovery document and a JWKS, with
// helpers to sign tokens, rotate keys and take the issuer down.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Paths served by the issuer.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks"
)

// Issuer is a local OIDC issuer signing ES256 tokens. Its methods are safe
// for concurrent use. The server is closed by t.Cleanup.
type Issuer struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	keys      []signingKey // guarded by mu; published in the JWKS, last one signs
	down      bool         // guarded by mu
	jwksHits  int          // guarded by mu
	discovery int          // guarded by mu
}

type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

// NewIssuer starts an issuer with one signing key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{t: t}
	iss.keys = []signingKey{iss.newKey("key-1")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, iss.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, iss.serveJWKS)
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

// URL returns the issuer URL, as tokens' "iss" claim carries it.
func (i *Issuer) URL() string { return i.srv.URL }

// Client returns an HTTP client for the issuer's server.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// Claims returns valid claims for email and audience, expiring an hour
// from now (wall clock).
func (i *Issuer) Claims(email, audience string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":   i.URL(),
		"sub":   "subject-" + email,
		"aud":   audience,
		"email": email,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

// SignOption changes how a token is signed.
type SignOption func(*signOptions)

type signOptions struct {
	kid    *string
	header map[string]any
}

// WithKeyID puts kid in the token header instead of the signing key's id.
func WithKeyID(kid string) SignOption { return func(o *signOptions) { o.kid = &kid } }

// WithHeader sets a header field of the token.
func WithHeader(name string, value any) SignOption {
	return func(o *signOptions) { o.header[name] = value }
}

// Sign returns a compact JWT of claims signed with the current key.
func (i *Issuer) Sign(claims jwt.MapClaims, opts ...SignOption) string {
	i.t.Helper()
	i.mu.Lock()
	key := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	return i.sign(key, claims, opts)
}

// SignWithUnknownKey returns a JWT signed by a fresh key that the JWKS does
// not publish, with a key id the JWKS does not know either (unless
// WithKeyID names a published one, which makes a bad signature).
func (i *Issuer) SignWithUnknownKey(claims jwt.MapClaims, opts ...SignOption) string {
	i.t.Helper()
	return i.sign(i.newKey("unknown-key"), claims, opts)
}

// Rotate adds a new key to the JWKS, keeping the old ones, and makes it
// the signing key. It returns the new key id.
func (i *Issuer) Rotate() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	k := i.newKey(fmt.Sprintf("key-%d", len(i.keys)+1))
	i.keys = append(i.keys, k)
	return k.kid
}

// SetDown makes the issuer answer 503 to every request (down=true) or
// serve normally again.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// JWKSFetches returns how many times the JWKS was served successfully.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksHits
}

// DiscoveryFetches returns how many times the discovery document was
// served successfully.
func (i *Issuer) DiscoveryFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discovery
}

func (i *Issuer) newKey(kid string) signingKey {
	i.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		i.t.Fatalf("oidctest: generate key: %v", err)
	}
	return signingKey{kid: kid, priv: priv}
}

func (i *Issuer) sign(key signingKey, claims jwt.MapClaims, opts []SignOption) string {
	i.t.Helper()
	o := signOptions{header: map[string]any{}}
	for _, opt := range opts {
		opt(&o)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = key.kid
	if o.kid != nil {
		tok.Header["kid"] = *o.kid
	}
	for k, v := range o.header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key.priv)
	if err != nil {
		i.t.Fatalf("oidctest: sign: %v", err)
	}
	return s
}

// up reports whether the issuer serves, answering 503 when it does not.
func (i *Issuer) up(w http.ResponseWriter) bool {
	i.mu.Lock()
	down := i.down
	i.mu.Unlock()
	if down {
		http.Error(w, "issuer down", http.StatusServiceUnavailable)
	}
	return !down
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !i.up(w) {
		return
	}
	i.mu.Lock()
	i.discovery++
	i.mu.Unlock()
	writeJSON(w, map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.URL() + JWKSPath,
		"authorization_endpoint":                i.URL() + "/authorize",
		"token_endpoint":                        i.URL() + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !i.up(w) {
		return
	}
	i.mu.Lock()
	i.jwksHits++
	keys := make([]map[string]string, 0, len(i.keys))
	for _, k := range i.keys {
		keys = append(keys, jwk(k))
	}
	i.mu.Unlock()
	writeJSON(w, map[string]any{"keys": keys})
}

// jwk returns the public JWK (RFC 7518 section 6.2) of k.
func jwk(k signingKey) map[string]string {
	point, err := k.priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(fmt.Sprintf("oidctest: encode public key: %v", err))
	}
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]string{
		"kty": "EC",
		"crv": "P-256",
		"use": "sig",
		"alg": "ES256",
		"kid": k.kid,
		"x":   enc(point[1:33]),
		"y":   enc(point[33:65]),
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
