package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries the hint body's signature, Sign(secret, body).
const SignatureHeader = "X-Presenced-Signature"

// DeliveryHeader carries a random delivery id, the same on every retry of
// one hint body, so that a relay can de-duplicate.
const DeliveryHeader = "X-Presenced-Delivery"

const signaturePrefix = "sha256="

// Sign returns "sha256=" followed by the lowercase hex HMAC-SHA256 of body
// keyed with secret: the value of the SignatureHeader.
func Sign(secret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, body))
}

// Verify reports whether header is a valid signature of body under secret,
// as made by Sign. The comparison of the MACs is constant-time; a header
// that is not "sha256=" followed by 64 hex digits (of either case) is never
// valid.
func Verify(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok || len(hexSum) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, body))
}

func mac(secret, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(body)
	return h.Sum(nil)
}
