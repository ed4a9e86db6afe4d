package push_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/push"
)

func TestSignKnownAnswer(t *testing.T) {
	// RFC 4231 §4.3, test case 2.
	got := push.Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("key")
	body := []byte(`{"sequence":1}`)
	good := push.Sign(secret, body)
	hexSum := strings.TrimPrefix(good, "sha256=")
	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"valid", secret, body, good, true},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(hexSum), true},
		{"empty secret and body", nil, nil, push.Sign(nil, nil), true},
		{"wrong secret", []byte("other"), body, good, false},
		{"tampered body", secret, []byte(`{"sequence":2}`), good, false},
		{"empty header", secret, body, "", false},
		{"bare hex", secret, body, hexSum, false},
		{"other algorithm", secret, body, "sha1=" + hexSum, false},
		{"upper-case prefix", secret, body, "SHA256=" + hexSum, false},
		{"truncated", secret, body, good[:len(good)-2], false},
		{"too long", secret, body, good + "00", false},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), false},
		{"padded", secret, body, " " + good, false},
		{"prefix only", secret, body, "sha256=", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := push.Verify(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("Verify(%q, %q, %q) = %v, want %v", tt.secret, tt.body, tt.header, got, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte("key"), []byte(`{"sequence":1}`), "sha256=00")
	f.Add([]byte(""), []byte(""), push.Sign(nil, nil))
	f.Add([]byte("k"), []byte("b"), "sha256="+strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		sig := push.Sign(secret, body)
		if !push.Verify(secret, body, sig) {
			t.Fatalf("Verify rejects Sign's own signature %q", sig)
		}
		if push.Verify(secret, body, header) && !strings.EqualFold(header, sig) {
			t.Fatalf("Verify accepts %q, which is not %q", header, sig)
		}
	})
}
