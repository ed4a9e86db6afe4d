// Package pidf parses and builds SIP SIMPLE presence documents:
// application/pidf+xml (RFC 3863) with the RPID extensions (RFC 4480) and
// the presence data model (RFC 4479), and maps them to and from
// status.Presence.
//
// Parse treats its input as untrusted: it bounds the body size, the
// element depth and the element counts, rejects DTDs, and is lenient about
// what real servers get wrong (whitespace, missing optional parts, missing
// namespace declarations, timestamp forms). Namespaces decide what an
// element means; prefixes do not. docs/pidf.md holds the merge rule used by
// Document.Presence and the mapping table.
package pidf

import (
	"errors"
	"time"
)

// The namespaces the package understands.
const (
	// NSPIDF is the PIDF namespace (RFC 3863 §4.1).
	NSPIDF = "urn:ietf:params:xml:ns:pidf"
	// NSDataModel is the presence data model namespace (RFC 4479 §6).
	NSDataModel = "urn:ietf:params:xml:ns:pidf:data-model"
	// NSRPID is the RPID namespace (RFC 4480 §4).
	NSRPID = "urn:ietf:params:xml:ns:pidf:rpid"
)

// Limits applied by Parse and Build.
const (
	// MaxBodySize is the largest body Parse accepts, in bytes.
	MaxBodySize = 64 << 10
	// MaxDepth is the deepest element nesting Parse accepts; the root is at
	// depth 1.
	MaxDepth = 32
	// MaxTuples is the most tuples a document may hold (ErrTooMany).
	MaxTuples = 64
	// MaxPersons is the most dm:persons a document may hold (ErrTooMany).
	MaxPersons = 64
	// MaxDevices is the most dm:devices a document may hold (ErrTooMany).
	MaxDevices = 64
	// MaxNoteBytes is the length a note is truncated to (at a UTF-8
	// boundary), by Parse and by Build.
	MaxNoteBytes = 1 << 10
	// MaxNotes is how many notes are kept per element; later ones are
	// dropped.
	MaxNotes = 8
	// MaxActivities is how many activities are kept per element; later ones
	// are dropped.
	MaxActivities = 32
	// MaxTokenBytes is the length the text of an <rpid:other> activity and
	// every other short string (ids, contacts) is truncated to.
	MaxTokenBytes = 256
)

// The sentinel errors. Parse and Build wrap them with context; test with
// errors.Is.
var (
	// ErrTooLarge means the body exceeds MaxBodySize.
	ErrTooLarge = errors.New("pidf: body too large")
	// ErrTooDeep means elements nest deeper than MaxDepth.
	ErrTooDeep = errors.New("pidf: elements nested too deep")
	// ErrTooMany means a document holds more tuples, persons or devices
	// than allowed.
	ErrTooMany = errors.New("pidf: too many elements")
	// ErrDTD means the document holds a DOCTYPE or other markup
	// declaration, which presence documents never need.
	ErrDTD = errors.New("pidf: DTD or entity declaration not allowed")
	// ErrSyntax means the body is not well-formed XML.
	ErrSyntax = errors.New("pidf: malformed XML")
	// ErrNotPIDF means the root element is not a PIDF <presence>.
	ErrNotPIDF = errors.New("pidf: not a PIDF document")
	// ErrEntity means Build was given an entity that is not a usable sip:
	// or sips: URI.
	ErrEntity = errors.New("pidf: invalid entity")
	// ErrTupleID means Build was given a tuple id that is not an XML NCName.
	ErrTupleID = errors.New("pidf: invalid tuple id")
	// ErrAvailability means Build was given an availability outside the
	// defined constants.
	ErrAvailability = errors.New("pidf: invalid availability")
)

// Basic is the <basic> status of a tuple (RFC 3863 §4.1.4).
type Basic uint8

// The basic statuses. BasicNone is the zero value: the tuple carried no
// recognisable <basic>.
const (
	BasicNone   Basic = iota
	BasicOpen         // <basic>open</basic>
	BasicClosed       // <basic>closed</basic>
)

// String returns "open", "closed" or "" for BasicNone.
func (b Basic) String() string {
	switch b {
	case BasicOpen:
		return "open"
	case BasicClosed:
		return "closed"
	}
	return ""
}

// UserInput is the value of an <rpid:user-input> element (RFC 4480 §3.15).
type UserInput uint8

// The user-input values. UserInputNone is the zero value: no element, or
// an unrecognised value.
const (
	UserInputNone   UserInput = iota
	UserInputActive           // the user is using the device
	UserInputIdle             // the user has not used it for a while
)

// Activity is one RPID activity (RFC 4480 §3.2).
type Activity struct {
	// Name is the element's local name, e.g. "on-the-phone" or "other".
	Name string
	// Text is the trimmed text of an "other" activity, empty otherwise.
	Text string
}

// Document is a parsed presence document.
type Document struct {
	// Entity is the presentity URI of <presence entity>.
	Entity string
	// Notes are the <note>s directly inside <presence> (RFC 3863 §4.1.6).
	Notes []string
	// Tuples are the <tuple>s (services, RFC 4479 §3.3) in document order.
	Tuples []Tuple
	// Persons are the <dm:person>s in document order.
	Persons []Person
	// Devices are the <dm:device>s in document order.
	Devices []Device
}

// Tuple is a PIDF <tuple>: a service in the data model.
type Tuple struct {
	// ID is the tuple's id attribute.
	ID string
	// Basic is the <status><basic> value.
	Basic Basic
	// Contact is the <contact> URI.
	Contact string
	// Priority is the contact's priority attribute (0 to 1); 0 when absent
	// or invalid.
	Priority float64
	// Notes are the tuple's <note>s.
	Notes []string
	// Timestamp is the tuple's <timestamp>; zero when absent or invalid.
	Timestamp time.Time
	// DeviceID is the <dm:deviceID> naming the device the service runs on.
	DeviceID string
	// Activities are RPID activities found in the tuple or its <status>.
	Activities []Activity
	// UserInput is an <rpid:user-input> found in the tuple or its <status>.
	UserInput UserInput
}

// Person is a <dm:person> (RFC 4479 §3.2).
type Person struct {
	// ID is the person's id attribute.
	ID string
	// Activities are the RPID activities of the person.
	Activities []Activity
	// Notes are the person's notes (<dm:note> and <rpid:note> inside
	// <rpid:activities>).
	Notes []string
	// Timestamp is the person's <dm:timestamp>; zero when absent or invalid.
	Timestamp time.Time
	// UserInput is the person's <rpid:user-input>.
	UserInput UserInput
}

// Device is a <dm:device> (RFC 4479 §3.4).
type Device struct {
	// ID is the device element's id attribute.
	ID string
	// DeviceID is the <dm:deviceID> (a URN naming the device).
	DeviceID string
	// Notes are the device's notes.
	Notes []string
	// Timestamp is the device's <dm:timestamp>; zero when absent or invalid.
	Timestamp time.Time
	// UserInput is the device's <rpid:user-input>.
	UserInput UserInput
}
