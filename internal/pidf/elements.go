package pidf

import (
	"fmt"
	"time"
)

// This file reads the PIDF elements: each function is called just after
// its element's start tag and consumes the element.

// presence reads the root element's content.
func (p *parser) presence(doc *Document) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.is("tuple", nsPIDF):
			if len(doc.Tuples) == MaxTuples {
				return tooMany(MaxTuples, "tuples")
			}
			doc.Tuples = appendNew(doc.Tuples, Tuple{ID: p.attr("id")}, 2)
			err = p.tuple(&doc.Tuples[len(doc.Tuples)-1])
		case e.is("person", nsDataModel):
			if len(doc.Persons) == MaxPersons {
				return tooMany(MaxPersons, "persons")
			}
			doc.Persons = appendNew(doc.Persons, Person{ID: p.attr("id")}, 1)
			err = p.person(&doc.Persons[len(doc.Persons)-1])
		case e.is("device", nsDataModel):
			if len(doc.Devices) == MaxDevices {
				return tooMany(MaxDevices, "devices")
			}
			doc.Devices = appendNew(doc.Devices, Device{ID: p.attr("id")}, 1)
			err = p.device(&doc.Devices[len(doc.Devices)-1])
		case isNote(e):
			err = p.note(&doc.Notes)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// tooMany is the error for more than limit children (what names them).
func tooMany(limit int, what string) error {
	return fmt.Errorf("%w: more than %d %s", ErrTooMany, limit, what)
}

// appendNew appends v to list, giving a nil list room for capacity
// elements at once, as documents typically hold a few.
func appendNew[T any](list []T, v T, capacity int) []T {
	if list == nil {
		list = make([]T, 0, capacity)
	}
	return append(list, v)
}

// isNote reports whether an element is a note in any namespace we know.
func isNote(e elemName) bool {
	return string(e.local) == "note" && e.space != nsOther
}

// isTimestamp reports whether an element is a timestamp in any namespace
// we know.
func isTimestamp(e elemName) bool {
	return string(e.local) == "timestamp" && e.space != nsOther
}

// tuple reads a <tuple>'s content.
func (p *parser) tuple(t *Tuple) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.is("status", nsPIDF):
			err = p.status(t)
		case e.is("contact", nsPIDF):
			t.Priority = parsePriority(string(p.attrBytes("priority")))
			t.Contact, err = p.textString(MaxTokenBytes)
		case e.is("deviceID", nsDataModel):
			t.DeviceID, err = p.textString(MaxTokenBytes)
		case isNote(e):
			err = p.note(&t.Notes)
		case isTimestamp(e):
			err = p.timestamp(&t.Timestamp)
		case e.is("activities", nsRPID):
			err = p.activities(&t.Activities, &t.Notes)
		case e.is("user-input", nsRPID):
			err = p.userInput(&t.UserInput)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// status reads a tuple's <status>: <basic> and, as older RPID senders put
// them there, RPID elements.
func (p *parser) status(t *Tuple) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.is("basic", nsPIDF):
			var s []byte
			s, err = p.readText(MaxTokenBytes)
			switch {
			case equalLower(s, "open"):
				t.Basic = BasicOpen
			case equalLower(s, "closed"):
				t.Basic = BasicClosed
			}
		case e.is("activities", nsRPID):
			err = p.activities(&t.Activities, &t.Notes)
		case e.is("user-input", nsRPID):
			err = p.userInput(&t.UserInput)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// person reads a <dm:person>'s content.
func (p *parser) person(pe *Person) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.is("activities", nsRPID):
			err = p.activities(&pe.Activities, &pe.Notes)
		case e.is("user-input", nsRPID):
			err = p.userInput(&pe.UserInput)
		case isNote(e):
			err = p.note(&pe.Notes)
		case isTimestamp(e):
			err = p.timestamp(&pe.Timestamp)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// device reads a <dm:device>'s content.
func (p *parser) device(dv *Device) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.is("deviceID", nsDataModel):
			dv.DeviceID, err = p.textString(MaxTokenBytes)
		case e.is("user-input", nsRPID):
			err = p.userInput(&dv.UserInput)
		case isNote(e):
			err = p.note(&dv.Notes)
		case isTimestamp(e):
			err = p.timestamp(&dv.Timestamp)
		default:
			err = p.skip()
		}
		if err != nil {
			return err
		}
	}
}

// activities reads <rpid:activities>: every RPID-namespace child is an
// activity except <note>, which is appended to notes (RFC 4480 §3.2).
func (p *parser) activities(acts *[]Activity, notes *[]string) error {
	for {
		ok, err := p.child()
		if err != nil || !ok {
			return err
		}
		e := p.s.elem
		switch {
		case e.space != nsRPID && e.space != nsNone:
			err = p.skip() // an extension activity we do not know
		case string(e.local) == "note":
			err = p.note(notes)
		default:
			err = p.activity(acts)
		}
		if err != nil {
			return err
		}
	}
}

// activity reads one activity element and appends it to acts, up to
// MaxActivities.
func (p *parser) activity(acts *[]Activity) error {
	name := truncateBytes(p.s.elem.local, MaxTokenBytes)
	if string(name) != "other" {
		if len(*acts) < MaxActivities {
			*acts = appendNew(*acts, Activity{Name: activityName(name)}, 4)
		}
		return p.skip()
	}
	text, err := p.readText(MaxTokenBytes)
	if err != nil {
		return err
	}
	if len(*acts) < MaxActivities {
		*acts = appendNew(*acts, Activity{Name: "other", Text: string(text)}, 4)
	}
	return nil
}

// knownActivities interns the activity names of activityTable.
var knownActivities = func() map[string]string {
	m := make(map[string]string, len(activityTable))
	for name := range activityTable {
		m[name] = name
	}
	return m
}()

// activityName returns name as a string, without allocating for the
// names RFC 4480 defines.
func activityName(name []byte) string {
	if s, ok := knownActivities[string(name)]; ok {
		return s
	}
	return string(name)
}

// note reads a note element and appends it to notes, up to MaxNotes.
func (p *parser) note(notes *[]string) error {
	s, err := p.readText(MaxNoteBytes)
	if err != nil {
		return err
	}
	if len(s) > 0 && len(*notes) < MaxNotes {
		*notes = append(*notes, string(s))
	}
	return nil
}

// timestamp reads a timestamp element; an unparsable one gives zero.
func (p *parser) timestamp(t *time.Time) error {
	s, err := p.readText(MaxTokenBytes)
	if err != nil {
		return err
	}
	*t = parseTime(string(s))
	return nil
}

// userInput reads <rpid:user-input>.
func (p *parser) userInput(u *UserInput) error {
	s, err := p.readText(MaxTokenBytes)
	switch {
	case equalLower(s, "idle"):
		*u = UserInputIdle
	case equalLower(s, "active"):
		*u = UserInputActive
	}
	return err
}
