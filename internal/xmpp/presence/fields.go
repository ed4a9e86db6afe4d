package presence

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"
)

// show reads a <show/>, whose start was just read.
func (d *decoder) show() error {
	v, err := d.readText()
	if err != nil {
		return err
	}
	if d.haveShow {
		d.s.Quirks |= QuirkDuplicate
		return nil
	}
	d.haveShow = true
	switch sh := Show(v); sh {
	case ShowAway, ShowChat, ShowDND, ShowXA:
		d.s.Show = sh
	default:
		d.s.Quirks |= QuirkUnknownShow
	}
	return nil
}

// priority reads a <priority/>, whose start was just read.
func (d *decoder) priority() error {
	v, err := d.readText()
	if err != nil {
		return err
	}
	if d.havePrio {
		d.s.Quirks |= QuirkDuplicate
		return nil
	}
	d.havePrio = true
	n, err := strconv.ParseInt(v, 10, 8)
	if err != nil {
		d.s.Quirks |= QuirkBadPriority
		return nil
	}
	d.s.Priority = int8(n)
	return nil
}

// status reads a <status/>, whose start t was just read, and keeps it by
// the language rule of Parse.
func (d *decoder) status(t xml.StartElement) error {
	v, err := d.readText()
	if err != nil || v == "" {
		return err
	}
	lang := d.lang
	for _, a := range t.Attr {
		if a.Name.Space == nsXML && a.Name.Local == "lang" {
			lang = truncate(a.Value, 64)
		}
	}
	preferred := lang == "" || isEnglish(lang)
	if d.s.Status != "" && (d.statusEN || !preferred) {
		return nil // keep the earlier one
	}
	d.s.Status, d.s.StatusLang, d.statusEN = d.cut(v), lang, preferred
	return nil
}

// isEnglish reports whether lang is "en" or "en-*", in any case.
func isEnglish(lang string) bool {
	return strings.EqualFold(lang, "en") ||
		len(lang) > 3 && strings.EqualFold(lang[:3], "en-")
}

// cut truncates a human-readable text to MaxStatusBytes, noting it.
func (d *decoder) cut(v string) string {
	v, cut := truncated(v, MaxStatusBytes)
	if cut {
		d.s.Quirks |= QuirkTruncated
	}
	return v
}

// stamp reads the stamp attribute of a delay element into *dst, keeping
// the earliest valid one.
func (d *decoder) stamp(t xml.StartElement, dst *time.Time, layout string) {
	for _, a := range t.Attr {
		if a.Name.Space != "" || a.Name.Local != "stamp" {
			continue
		}
		ts, err := time.Parse(layout, strings.TrimSpace(a.Value))
		if err != nil {
			d.s.Quirks |= QuirkBadDelay
			return
		}
		if ts = ts.UTC(); dst.IsZero() || ts.Before(*dst) {
			*dst = ts
		}
		return
	}
	d.s.Quirks |= QuirkBadDelay // no stamp at all
}
