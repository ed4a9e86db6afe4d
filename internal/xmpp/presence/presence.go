// Package presence reads XMPP <presence/> stanzas (RFC 6121 §4) and merges
// the presences of a user's resources into the one status.Presence that
// presenced shows.
//
// Parse treats its input as untrusted: it bounds the stanza size, the
// element depth and the element count, refuses DTDs, comments and
// processing instructions (RFC 6120 §11.1), normalises and checks the JIDs
// and truncates long texts. Namespaces decide what an element means;
// prefixes do not. User holds the latest presence of each resource of one
// user and merges them by the rule in docs/xmpp-presence.md.
//
// The package imports no XMPP library: a connector hands it the bytes or
// the tokens of one stanza.
package presence

import (
	"errors"
	"time"
)

// The namespaces the package understands.
const (
	// NSClient is the content namespace of client streams (RFC 6120 §4.8.3).
	NSClient = "jabber:client"
	// NSComponent is the content namespace of component streams (XEP-0114).
	NSComponent = "jabber:component:accept"
	// NSStanzas holds the stanza error conditions (RFC 6120 §8.3.3).
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	// NSDelay is delayed delivery (XEP-0203).
	NSDelay = "urn:xmpp:delay"
	// NSLegacyDelay is the obsolete legacy delayed delivery (XEP-0091).
	NSLegacyDelay = "jabber:x:delay"
)

// Limits applied by Parse and Decode.
const (
	// MaxStanzaSize is the largest stanza Parse accepts, in bytes.
	MaxStanzaSize = 16 << 10
	// MaxDepth is the deepest element nesting accepted; <presence> is at
	// depth 1.
	MaxDepth = 16
	// MaxElements is the most elements a stanza may hold below <presence>,
	// at any depth.
	MaxElements = 64
	// MaxStatusBytes is the length the status text and the error text are
	// truncated to, at a UTF-8 boundary.
	MaxStatusBytes = 1 << 10
	// MaxTextBytes is the most character data Decode reads in all, so that
	// a token source without a byte limit is still bounded.
	MaxTextBytes = MaxStanzaSize
	// MaxResources is how many resources a User keeps; a new resource
	// beyond it drops the one updated longest ago.
	MaxResources = 32
)

// The sentinel errors. Parse and Decode wrap them with context; test with
// errors.Is.
var (
	// ErrTooLarge means the stanza exceeds MaxStanzaSize or its text
	// exceeds MaxTextBytes.
	ErrTooLarge = errors.New("xmpp presence: stanza too large")
	// ErrTooDeep means elements nest deeper than MaxDepth.
	ErrTooDeep = errors.New("xmpp presence: elements nested too deep")
	// ErrTooMany means the stanza holds more than MaxElements elements.
	ErrTooMany = errors.New("xmpp presence: too many elements")
	// ErrRestricted means the stanza holds a DTD, comment or processing
	// instruction, which XMPP forbids (RFC 6120 §11.1).
	ErrRestricted = errors.New("xmpp presence: restricted XML")
	// ErrSyntax means the stanza is not well-formed XML, or there is more
	// than one element.
	ErrSyntax = errors.New("xmpp presence: malformed XML")
	// ErrNotPresence means the element is not a <presence> in
	// jabber:client, jabber:component:accept or no namespace.
	ErrNotPresence = errors.New("xmpp presence: not a presence stanza")
	// ErrType means the type attribute is not one RFC 6121 §4.7.1 defines.
	ErrType = errors.New("xmpp presence: invalid type")
	// ErrJID means a from or to address is not a well-formed JID.
	ErrJID = errors.New("xmpp presence: invalid JID")
)

// Type is the type attribute of a presence stanza (RFC 6121 §4.7.1).
type Type string

// The presence types. TypeAvailable is the empty string: an available
// presence has no type attribute.
const (
	TypeAvailable    Type = ""
	TypeUnavailable  Type = "unavailable"
	TypeError        Type = "error"
	TypeProbe        Type = "probe"
	TypeSubscribe    Type = "subscribe"
	TypeSubscribed   Type = "subscribed"
	TypeUnsubscribe  Type = "unsubscribe"
	TypeUnsubscribed Type = "unsubscribed"
)

// Show is the <show/> value of an available presence (RFC 6121 §4.7.2.1).
type Show string

// The show values. ShowNone is the empty string: no <show/>, which means
// plain "available".
const (
	ShowNone Show = ""
	ShowAway Show = "away"
	ShowChat Show = "chat"
	ShowDND  Show = "dnd"
	ShowXA   Show = "xa"
)

// Quirk is a set of flags recording what Parse had to be lenient about, so
// that a connector can count sloppy senders. The zero value means none.
type Quirk uint8

// The quirks.
const (
	// QuirkUnknownShow: a <show/> value outside RFC 6121 §4.7.2.1, read
	// as ShowNone.
	QuirkUnknownShow Quirk = 1 << iota
	// QuirkBadPriority: a <priority/> that is not an integer in
	// -128..127, read as 0.
	QuirkBadPriority
	// QuirkBadDelay: a delay stamp that does not parse, ignored.
	QuirkBadDelay
	// QuirkTruncated: the status or error text was cut to MaxStatusBytes.
	QuirkTruncated
	// QuirkDuplicate: a second <show/> or <priority/> (RFC 6121 allows
	// one), ignored.
	QuirkDuplicate
)

// StanzaError is the <error/> of a presence of type "error" (RFC 6120
// §8.3).
type StanzaError struct {
	// Type is the error type: "auth", "cancel", "continue", "modify",
	// "wait", or "" when missing or unknown.
	Type string
	// Condition is the local name of the defined condition, e.g.
	// "remote-server-not-found"; "undefined-condition" when the error
	// names none.
	Condition string
	// Text is the error's descriptive text, truncated to MaxStatusBytes.
	Text string
}

// Stanza is one parsed presence stanza.
type Stanza struct {
	// From and To are the addresses; the zero JID when the attribute is
	// absent (on a client stream the server then means the sender's own
	// account).
	From, To JID
	// Type is the presence type.
	Type Type
	// Show is the availability sub-state; ShowNone when absent or unknown.
	Show Show
	// Status is the chosen <status/> text (see Parse), trimmed and
	// truncated to MaxStatusBytes; StatusLang is its xml:lang, inherited
	// from <presence> when it has none of its own.
	Status, StatusLang string
	// Priority is the resource priority, 0 when absent or invalid.
	Priority int8
	// Delay is the time the stanza was originally sent (XEP-0203, or
	// legacy XEP-0091), in UTC; zero when not given.
	Delay time.Time
	// Error is set only when Type is TypeError.
	Error StanzaError
	// Quirks records the leniencies Parse applied.
	Quirks Quirk
}
