package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/store"
)

func TestNewTokenFormat(t *testing.T) {
	secret, hash, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	if !strings.HasPrefix(secret, "pcd_") {
		t.Errorf("secret does not start with pcd_")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(secret, "pcd_"))
	if err != nil {
		t.Fatalf("secret body is not unpadded base64url: %v", err)
	}
	if len(raw) != 32 {
		t.Errorf("secret carries %d random bytes, want 32", len(raw))
	}
	if len(secret) != 4+43 {
		t.Errorf("len(secret) = %d, want 47", len(secret))
	}
	if want := sha256.Sum256([]byte(secret)); hash != want {
		t.Errorf("hash is not sha256 of the whole secret")
	}
	if hash != HashToken(secret) {
		t.Errorf("hash != HashToken(secret)")
	}
	if !looksLikeToken(secret) {
		t.Errorf("looksLikeToken(new token) = false")
	}
}

func TestNewTokenEntropy(t *testing.T) {
	const n = 1000
	seen := make(map[string]bool, n)
	var ones, bits int
	for range n {
		secret, _, err := NewToken()
		if err != nil {
			t.Fatalf("NewToken: %v", err)
		}
		if seen[secret] {
			t.Fatalf("NewToken repeated a secret after %d calls", len(seen))
		}
		seen[secret] = true
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, "pcd_"))
		for _, b := range raw {
			for i := range 8 {
				ones += int(b>>i) & 1
			}
			bits += 8
		}
	}
	// 256,000 fair bits: the share of ones is 0.5 ± 0.001 (one sigma);
	// 0.49..0.51 is ten sigmas and still catches a constant or biased source.
	if share := float64(ones) / float64(bits); share < 0.49 || share > 0.51 {
		t.Errorf("share of one bits = %.4f, want about 0.5", share)
	}
}

func TestHashToken(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		// FIPS 180-2 test vectors.
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		h := HashToken(tt.in)
		if got := hex.EncodeToString(h[:]); got != tt.want {
			t.Errorf("HashToken(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if got, want := TokenID(h), tt.want[:16]; got != want {
			t.Errorf("TokenID(HashToken(%q)) = %s, want %s", tt.in, got, want)
		}
	}
}

func TestLooksLikeToken(t *testing.T) {
	good, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		good:                             true,
		"":                               false,
		"pcd_":                           false,
		good[:len(good)-1]:               false,
		good + "A":                       false,
		"xyz_" + good[4:]:                false,
		good[:10] + "=" + good[11:]:      false,
		good[:10] + "." + good[11:]:      false,
		"PCD_" + good[4:]:                false,
		"pcd_" + strings.Repeat("A", 43): true,
	}
	got := make(map[string]bool)
	for in := range tests {
		got[in] = looksLikeToken(in)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("looksLikeToken (-want +got):\n%s", diff)
	}
}

func TestIssue(t *testing.T) {
	f := newFakeTokens()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	secret, hash, err := Issue(context.Background(), f, store.ClientToken, "bob@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if HashToken(secret) != hash {
		t.Fatal("returned hash is not the secret's")
	}
	got, err := f.Lookup(context.Background(), hash)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Token{Hash: hash, Kind: store.ClientToken, User: "bob@example.com", CreatedAt: now.UTC()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored token (-want +got):\n%s", diff)
	}
	// A store that refuses the token: no secret is handed out.
	failing := &conflictTokens{}
	if s, _, err := Issue(context.Background(), failing, store.AdminToken, "", now); err == nil || s != "" || !errors.Is(err, store.ErrConflict) {
		t.Errorf("Issue on a refusing store = %q, %v; want no secret and ErrConflict", s, err)
	}
}

type conflictTokens struct{ fakeTokens }

func (*conflictTokens) Create(context.Context, store.Token) error { return store.ErrConflict }
