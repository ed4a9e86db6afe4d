package adminauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMalformedHash is returned for a stored password hash that is not a
// well-formed argon2id PHC string within the accepted limits.
var ErrMalformedHash = errors.New("malformed password hash")

// argonVersion is the only Argon2 version accepted: 0x13 (RFC 9106).
const argonVersion = 19

// Limits on parameters read from a stored hash. They keep a corrupt or
// hostile row from making Verify allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 4 << 20 // 4 GiB
	maxTime      = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128
	maxPHCLen    = 512
)

// b64 is the PHC string format's base64: standard alphabet, no padding,
// and canonical (unused trailing bits must be zero), so that one hash has
// exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// phc is a parsed argon2id PHC string.
type phc struct {
	Params Params
	Salt   []byte
	Key    []byte
}

// String returns the canonical PHC form
// $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$KEY.
func (h phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argonVersion,
		h.Params.Memory, h.Params.Time, h.Params.Threads,
		b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// parsePHC parses s strictly: only argon2id version 19, parameters in the
// order m, t, p as canonical decimals within limits, and canonical base64.
// Every error wraps ErrMalformedHash.
func parsePHC(s string) (phc, error) {
	if len(s) > maxPHCLen {
		return phc{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxPHCLen)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return phc{}, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformedHash)
	}
	if parts[1] != "argon2id" {
		return phc{}, fmt.Errorf("%w: algorithm %q, want argon2id", ErrMalformedHash, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argonVersion) {
		return phc{}, fmt.Errorf("%w: version field %q, want v=%d", ErrMalformedHash, parts[2], argonVersion)
	}
	p, err := parseParams(parts[3])
	if err != nil {
		return phc{}, err
	}
	salt, err := decodeField("salt", parts[4], minSaltLen, maxSaltLen)
	if err != nil {
		return phc{}, err
	}
	key, err := decodeField("hash", parts[5], minKeyLen, maxKeyLen)
	if err != nil {
		return phc{}, err
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return phc{Params: p, Salt: salt, Key: key}, nil
}

// parseParams parses "m=M,t=T,p=P".
func parseParams(s string) (Params, error) {
	fields := strings.Split(s, ",")
	names := [3]string{"m", "t", "p"}
	limits := [3]uint64{maxMemoryKiB, maxTime, 255}
	var vals [3]uint64
	if len(fields) != len(names) {
		return Params{}, fmt.Errorf("%w: parameters %q, want m=,t=,p=", ErrMalformedHash, s)
	}
	for i, f := range fields {
		v, err := parseDecimal(f, names[i]+"=", limits[i])
		if err != nil {
			return Params{}, err
		}
		vals[i] = v
	}
	p := Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}
	if p.Memory < 8*uint32(p.Threads) {
		return Params{}, fmt.Errorf("%w: m=%d below 8*p=%d", ErrMalformedHash, p.Memory, 8*uint32(p.Threads))
	}
	return p, nil
}

// parseDecimal parses prefix followed by a decimal in [1, limit] without
// sign or leading zeros.
func parseDecimal(f, prefix string, limit uint64) (uint64, error) {
	digits, ok := strings.CutPrefix(f, prefix)
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, fmt.Errorf("%w: parameter %q, want %sN", ErrMalformedHash, f, prefix)
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: parameter %q is not a decimal", ErrMalformedHash, f)
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("%w: parameter %q outside [1, %d]", ErrMalformedHash, f, limit)
	}
	return v, nil
}

// decodeField decodes one base64 field whose decoded length must lie in
// [minLen, maxLen].
func decodeField(name, s string, minLen, maxLen int) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedHash, name, err)
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, fmt.Errorf("%w: %s of %d bytes, want %d to %d", ErrMalformedHash, name, len(b), minLen, maxLen)
	}
	return b, nil
}
