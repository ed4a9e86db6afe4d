package certs

import (
	"crypto"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf16"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The fallback decoder serves files ToPEM refuses although their MAC
// verified, chiefly keytool stores with a trusted certificate: keytool marks
// it with the attribute 2.16.840.1.113894.746875.1.1, which ToPEM does not
// know. Such files keep their key bags in a plain (unencrypted) data
// content, so the keys' friendly names and localKeyIds can be read from the
// ASN.1 structure of RFC 7292 without decrypting anything; the keys
// themselves and the (encrypted) certificates come from DecodeChain, which
// accepts exactly one key.

var (
	oidData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidKeyBag         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidFriendlyName   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
)

// errNotFallback means the fallback decoder does not apply to the file.
var errNotFallback = errors.New("no plain key bags")

// RFC 7292 structures, reduced to what the fallback reads.
type pfxPDU struct {
	Version  int
	AuthSafe contentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []bagAttribute `asn1:"set,optional"`
}

type bagAttribute struct {
	ID     asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// decodeFallback decodes data, whose MAC ToPEM verified before failing
// with topemErr. The error wraps errNotFallback if the file does not have
// the expected structure.
func decodeFallback(data []byte, password string, topemErr error) (*store, error) {
	keys, err := plainKeyBags(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotFallback, err)
	}
	if len(keys) > 1 {
		for i := range keys {
			keys[i].err = fmt.Errorf("%d private keys and an entry go-pkcs12 cannot convert (%v); keep one private key per file",
				len(keys), topemErr)
		}
		return &store{keys: keys}, nil
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	keys[0].key = signer
	s := &store{keys: keys}
	// DecodeChain hides the certificates' attributes: leaf finds the key's
	// certificate by public key.
	for _, c := range append(cas, leaf) {
		s.certs = append(s.certs, certEntry{cert: c})
	}
	return s, nil
}

// plainKeyBags returns the friendly name and localKeyId of every key bag in
// the unencrypted data contents of data.
func plainKeyBags(data []byte) ([]keyEntry, error) {
	var pfx pfxPDU
	if err := unmarshalAll(data, &pfx); err != nil {
		return nil, fmt.Errorf("PFX: %w", err)
	}
	// go-pkcs12 checks the same before verifying the MAC, so a file that
	// passes here had its MAC verified by the failed ToPEM.
	if pfx.Version != 3 || len(pfx.MacData.FullBytes) == 0 || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, errors.New("PFX: not version 3, without MAC or authSafe not data")
	}
	var safe []byte
	if err := unmarshalAll(pfx.AuthSafe.Content.Bytes, &safe); err != nil {
		return nil, fmt.Errorf("authSafe: %w", err)
	}
	var contents []contentInfo
	if err := unmarshalAll(safe, &contents); err != nil {
		return nil, fmt.Errorf("authenticated safe: %w", err)
	}
	var keys []keyEntry
	for _, ci := range contents {
		if !ci.ContentType.Equal(oidData) {
			continue // encrypted: certificates in OpenSSL and keytool files
		}
		var raw []byte
		if err := unmarshalAll(ci.Content.Bytes, &raw); err != nil {
			return nil, fmt.Errorf("safe contents: %w", err)
		}
		var bags []safeBag
		if err := unmarshalAll(raw, &bags); err != nil {
			return nil, fmt.Errorf("safe bags: %w", err)
		}
		for _, b := range bags {
			if b.ID.Equal(oidKeyBag) || b.ID.Equal(oidShroudedKeyBag) {
				keys = append(keys, keyEntryOf(b.Attributes))
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no private key in the unencrypted part of the file")
	}
	return keys, nil
}

// keyEntryOf reads friendlyName (a BMPString) and localKeyId (an OCTET
// STRING, rendered in hex as ToPEM does) from attrs; others are ignored.
func keyEntryOf(attrs []bagAttribute) keyEntry {
	var k keyEntry
	for _, a := range attrs {
		var v asn1.RawValue
		if _, err := asn1.Unmarshal(a.Values.Bytes, &v); err != nil {
			continue
		}
		switch {
		case a.ID.Equal(oidFriendlyName) && v.Tag == asn1.TagBMPString:
			k.name = decodeBMP(v.Bytes)
		case a.ID.Equal(oidLocalKeyID) && v.Tag == asn1.TagOctetString:
			k.keyID = hex.EncodeToString(v.Bytes)
		}
	}
	return k
}

func decodeBMP(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	return nil
}
