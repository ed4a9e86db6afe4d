package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/email"
)

// OIDCConfig configures the acceptance of bearer JWTs from one OpenID
// Connect issuer.
type OIDCConfig struct {
	// Issuer is the issuer URL, exactly as the issuer's discovery
	// document and its tokens' "iss" claim spell it.
	Issuer string
	// Audience must be one of a token's "aud" values. Required: with an
	// empty Audience every token is refused.
	Audience string
	// EmailClaim names the string claim holding the user's email.
	// Default "email".
	EmailClaim string
	// HTTPClient fetches the discovery document and the signing keys.
	// Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Clock tells the time for expiry checks and discovery retries.
	// Default clock.Real.
	Clock clock.Clock
}

// Defaults of OIDCConfig.
const (
	defaultEmailClaim  = "email"
	defaultHTTPTimeout = 10 * time.Second
	// discoveryRetry is the least time between two discovery attempts, so
	// that an issuer that is down is not asked once per request.
	discoveryRetry = time.Second
)

// OIDCVerifier verifies bearer JWTs of one OIDC issuer and extracts the
// user's email. It is safe for concurrent use.
//
// The issuer is contacted lazily: discovery runs on the first Verify and,
// when it fails, again on a later Verify (at most once per second), so
// presenced starts and serves local tokens while the issuer is down. Signing
// keys come from the issuer's JWKS and are refetched when a token names a key
// id that is not cached, which follows a key rotation.
type OIDCVerifier struct {
	cfg    OIDCConfig
	clk    clock.Clock
	logger *slog.Logger

	// verifier is set once discovery has succeeded and never changes after.
	verifier atomic.Pointer[oidc.IDTokenVerifier]

	// discovering is a one-slot semaphore held while discovery runs; it
	// also guards lastErr and retryAt.
	discovering chan struct{}
	lastErr     error     // guarded by discovering
	retryAt     time.Time // guarded by discovering
}

// NewOIDCVerifier returns a verifier for cfg. It does not contact the issuer.
func NewOIDCVerifier(cfg OIDCConfig, logger *slog.Logger) *OIDCVerifier {
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = defaultEmailClaim
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &OIDCVerifier{
		cfg:         cfg,
		clk:         clk,
		logger:      logger,
		discovering: make(chan struct{}, 1),
	}
}

// Verify checks raw's signature against the issuer's keys, its issuer, its
// audience and its expiry, and returns the lower-cased email from the
// configured claim. Every failure, including an unreachable issuer, wraps
// ErrUnauthorized.
func (v *OIDCVerifier) Verify(ctx context.Context, raw string) (email string, err error) {
	if v.cfg.Issuer == "" || v.cfg.Audience == "" {
		return "", fmt.Errorf("%w: oidc issuer or audience not configured", ErrUnauthorized)
	}
	verifier, err := v.idTokenVerifier(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: oidc discovery: %w", ErrUnauthorized, err)
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil && strings.Contains(err.Error(), "failed to verify signature") {
		// go-oidc's key set wakes the callers waiting on a JWKS fetch
		// before it forgets that fetch, so a refresh asked for just then
		// is answered with the keys fetched a moment before: a token signed
		// by a key published since is refused once. A second try fetches
		// anew. (go-oidc exports no error value to test for.)
		tok, err = verifier.Verify(ctx, raw)
	}
	if err != nil {
		return "", fmt.Errorf("%w: verify jwt: %w", ErrUnauthorized, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", fmt.Errorf("%w: jwt claims: %w", ErrUnauthorized, err)
	}
	return v.emailFrom(claims)
}

// emailFrom extracts the user's email from verified claims.
func (v *OIDCVerifier) emailFrom(claims map[string]any) (string, error) {
	s, ok := claims[v.cfg.EmailClaim].(string)
	if !ok {
		return "", fmt.Errorf("%w: jwt has no string claim %q", ErrUnauthorized, v.cfg.EmailClaim)
	}
	// An issuer that says it has not verified the address does not get
	// to name that user.
	if verified, ok := claims["email_verified"].(bool); ok && !verified && v.cfg.EmailClaim == defaultEmailClaim {
		return "", fmt.Errorf("%w: jwt email is not verified", ErrUnauthorized)
	}
	addr, err := email.Normalize(s)
	if err != nil {
		return "", fmt.Errorf("%w: jwt claim %q is not an email: %w", ErrUnauthorized, v.cfg.EmailClaim, err)
	}
	return addr, nil
}

// idTokenVerifier returns the go-oidc verifier, running discovery first if
// it has not yet succeeded.
func (v *OIDCVerifier) idTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if iv := v.verifier.Load(); iv != nil {
		return iv, nil
	}
	select {
	case v.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-v.discovering }()
	if iv := v.verifier.Load(); iv != nil {
		return iv, nil // another caller discovered while we waited
	}
	now := v.clk.Now()
	if now.Before(v.retryAt) {
		return nil, v.lastErr
	}
	iv, err := v.discover(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // the caller gave up; not the issuer's fault
		}
		v.lastErr, v.retryAt = err, now.Add(discoveryRetry)
		v.logger.Warn("oidc discovery failed", "issuer", v.cfg.Issuer, "err", err)
		return nil, err
	}
	v.verifier.Store(iv)
	v.logger.Info("oidc discovery done", "issuer", v.cfg.Issuer)
	return iv, nil
}

// discover fetches the issuer's discovery document and builds a verifier
// whose key set fetches the JWKS with cfg.HTTPClient.
func (v *OIDCVerifier) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, v.cfg.HTTPClient), v.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	// The key set outlives this request: go-oidc keeps only the values
	// of its context, never its cancellation.
	keyCtx := oidc.ClientContext(context.Background(), v.cfg.HTTPClient)
	return provider.VerifierContext(keyCtx, &oidc.Config{
		ClientID: v.cfg.Audience,
		Now:      v.clk.Now,
	}), nil
}
