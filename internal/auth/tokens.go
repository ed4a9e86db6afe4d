package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// TokenPrefix starts every local API token, so that a leaked token is easy
// to recognise (for secret scanners, say) and a JWT is never mistaken for one.
const TokenPrefix = "pcd_"

// tokenBytes is the number of random bytes in a token: 256 bits of entropy.
const tokenBytes = 32

// tokenLen is the length of every token NewToken returns.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a new local API token and the hash under which it is
// stored. The secret is TokenPrefix followed by the unpadded base64url
// encoding of 32 random bytes; it is shown to the administrator once and
// never stored. The hash is HashToken(secret).
func NewToken() (secret string, hash [32]byte, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("new token: %w", err)
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret), nil
}

// Issue makes a new token of kind for user (empty for admin tokens),
// stores its hash in tokens with the time now, and returns the secret and
// the hash. The secret is not kept anywhere.
func Issue(ctx context.Context, tokens store.TokenStore, kind store.TokenKind, user string, now time.Time) (secret string, hash [32]byte, err error) {
	secret, hash, err = NewToken()
	if err != nil {
		return "", [32]byte{}, err
	}
	if err := tokens.Create(ctx, store.Token{Hash: hash, Kind: kind, User: user, CreatedAt: now.UTC()}); err != nil {
		return "", [32]byte{}, fmt.Errorf("store token: %w", err)
	}
	return secret, hash, nil
}

// HashToken returns the SHA-256 digest of the whole secret string, prefix
// included. A plain hash (no salt, no stretching) is enough because tokens
// carry 256 random bits, and it lets a token be found by its hash.
func HashToken(secret string) [32]byte {
	return sha256.Sum256([]byte(secret))
}

// TokenID returns a stable identifier of the token with the given hash that
// is safe to use as a rate-limiting key or in debug logs: the hex form of
// the hash's first 8 bytes. It reveals nothing usable about the secret.
func TokenID(hash [32]byte) string {
	return hex.EncodeToString(hash[:8])
}

// looksLikeToken reports whether s has the shape of a token made by
// NewToken, so that garbage never costs a store lookup or a cache entry.
func looksLikeToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for _, c := range []byte(s[len(TokenPrefix):]) {
		if !isBase64URL(c) {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
