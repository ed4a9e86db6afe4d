package adminauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length limits. The minimum follows NIST SP 800-63B's advice for
// passwords chosen by their owner on a privileged account; the maximum only
// bounds the work done on untrusted input.
const (
	MinPasswordLen = 12   // characters (Unicode code points)
	MaxPasswordLen = 1024 // bytes
)

// DefaultMaxConcurrent is how many hashes a Hasher computes at once unless
// told otherwise. Each takes Params.Memory of RAM, so this bounds both
// memory and CPU spent on login attempts.
const DefaultMaxConcurrent = 2

var (
	// ErrPasswordTooShort is returned by Hash for a password under
	// MinPasswordLen characters.
	ErrPasswordTooShort = fmt.Errorf("password shorter than %d characters", MinPasswordLen)
	// ErrPasswordTooLong is returned by Hash for a password over
	// MaxPasswordLen bytes.
	ErrPasswordTooLong = fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB; at least 8*Threads
	Time    uint32 // passes over memory; at least 1
	Threads uint8  // lanes; at least 1
	SaltLen uint32 // bytes of random salt; 16 by default
	KeyLen  uint32 // bytes of derived key; 32 by default
}

// DefaultParams is RFC 9106's second recommended option (64 MiB, 3
// passes, 4 lanes) with a 128-bit salt and a 256-bit key.
var DefaultParams = Params{Memory: 64 << 10, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}

// validate reports what is wrong with p, using the same limits as the
// PHC parser so that every hash Hash makes can be verified.
func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d outside [1, %d]", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB outside [8*threads, %d]", p.Memory, maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// deriveFunc has the signature of argon2.IDKey; tests substitute it.
type deriveFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// Hasher hashes and verifies passwords with argon2id. At most a fixed
// number of hashes run at once; callers beyond that wait for a slot or for
// their context. It is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{} // one token per running hash
	derive deriveFunc
	dummy  phc // verified against for unknown users; matches nothing
}

// NewHasher returns a Hasher making hashes with p and running at most
// maxConcurrent of them at once (DefaultMaxConcurrent when <= 0).
func NewHasher(p Params, maxConcurrent int) (*Hasher, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("new hasher: %w", err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = DefaultMaxConcurrent
	}
	// The dummy is random bytes, not the hash of anything: verifying
	// against it costs exactly what a real verification with p costs,
	// and no password can match it except with probability 2^-(8*KeyLen).
	dummy := phc{Params: p, Salt: make([]byte, p.SaltLen), Key: make([]byte, p.KeyLen)}
	_, _ = rand.Read(dummy.Salt) // crypto/rand.Read never fails (Go 1.24+)
	_, _ = rand.Read(dummy.Key)
	return &Hasher{params: p, sem: make(chan struct{}, maxConcurrent), derive: argon2.IDKey, dummy: dummy}, nil
}

// CheckPassword returns ErrPasswordTooShort or ErrPasswordTooLong when pw
// may not be set as a password, and nil otherwise.
func CheckPassword(pw string) error {
	switch {
	case len(pw) > MaxPasswordLen:
		return ErrPasswordTooLong
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return ErrPasswordTooShort
	}
	return nil
}

// Hash returns the PHC string of a new argon2id hash of pw with a fresh
// random salt. It fails for a password CheckPassword refuses and when ctx
// ends before a hashing slot is free.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt)
	key, err := h.run(ctx, pw, salt, h.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return phc{Params: h.params, Salt: salt, Key: key}.String(), nil
}

// Verify reports whether pw matches encoded, a PHC string made by Hash
// (with any parameters within the parser's limits). The comparison is
// constant-time. Errors wrap ErrMalformedHash or the context's error.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return h.verify(ctx, pw, stored)
}

// VerifyDummy does the work of Verify against a hash that matches no
// password, and always reports false. Call it when the account does not
// exist so that the answer takes as long as for a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) (bool, error) {
	_, err := h.verify(ctx, pw, h.dummy)
	return false, err
}

// NeedsRehash reports whether encoded was made with other parameters than
// h's (or cannot be parsed), so that a caller that has just verified the
// password may store a fresh hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	stored, err := parsePHC(encoded)
	return err != nil || stored.Params != h.params
}

func (h *Hasher) verify(ctx context.Context, pw string, stored phc) (bool, error) {
	if len(pw) > MaxPasswordLen {
		// Hash never accepts such a password, so it matches nothing;
		// skipping the work reveals only the length the caller sent.
		return false, nil
	}
	key, err := h.run(ctx, pw, stored.Salt, stored.Params)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(key, stored.Key) == 1, nil
}

// run derives a key once a hashing slot is free.
func (h *Hasher) run(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a hashing slot: %w", context.Cause(ctx))
	}
	defer func() { <-h.sem }()
	return h.derive([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}
