package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Response is an answer of one of the gateway's listeners, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Bearer returns the Authorization header of token; no header for "".
func Bearer(token string) http.Header {
	if token == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Do calls the client API as token ("" = no credentials). See Call for
// body.
func (h *Harness) Do(method, path, token string, body any) Response {
	h.tb.Helper()
	return h.Call(h.ClientServer, method, path, Bearer(token), body)
}

// Send calls the client API with the request headers hdr.
func (h *Harness) Send(method, path string, hdr http.Header, body any) Response {
	h.tb.Helper()
	return h.Call(h.ClientServer, method, path, hdr, body)
}

// AdminDo calls the admin API as token ("" = no credentials).
func (h *Harness) AdminDo(method, path, token string, body any) Response {
	h.tb.Helper()
	return h.Call(h.AdminServer, method, path, Bearer(token), body)
}

// Call sends a request with the headers hdr to srv. body is sent as is
// when it is a string, JSON-encoded otherwise, and not at all when nil.
func (h *Harness) Call(srv *httptest.Server, method, path string, hdr http.Header, body any) Response {
	h.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.tb.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		h.tb.Fatalf("new request: %v", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		h.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Decode checks r's status and JSON content type and decodes its body.
func Decode[T any](tb testing.TB, r Response, wantStatus int) T {
	tb.Helper()
	var v T
	if r.Status != wantStatus {
		tb.Fatalf("status %d, want %d; body %s", r.Status, wantStatus, r.Body)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		tb.Fatalf("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

// Problem is an application/problem+json answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	// Errors are the fields at fault of an invalid_request, by name.
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// Fields returns the names of p's fields at fault, in order.
func (p Problem) Fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// WantProblem checks that r is a problem+json answer with a type and a
// title, whose HTTP status and body status are status and whose code is
// code.
func WantProblem(tb testing.TB, r Response, status int, code string) Problem {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type %q, want application/problem+json; body %s", ct, r.Body)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Fatalf("decode problem %s: %v", r.Body, err)
	}
	type statuses struct{ HTTP, Body int }
	if diff := cmp.Diff(statuses{status, status}, statuses{r.Status, p.Status}); diff != "" {
		tb.Errorf("status (-want +got):\n%s\nbody %s", diff, r.Body)
	}
	if p.Code != code {
		tb.Errorf("code %q, want %q; body %s", p.Code, code, r.Body)
	}
	if p.Type == "" || p.Title == "" {
		tb.Errorf("problem without type or title: %s", r.Body)
	}
	return p
}
