package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// object is a JSON object whose members are checked one by one.
type object map[string]json.RawMessage

// strictObject parses body as a JSON object for operation op, rejecting
// members not in allowed (OData annotations "@odata.*" aside) and missing
// required ones, with the messages Graph's OData layer uses.
func strictObject(body []byte, op string, allowed, required []string) (object, reply, bool) {
	var o object
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&o); err != nil || o == nil || dec.More() {
		return nil, graphError(http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected."), false
	}
	for k := range o {
		if strings.HasPrefix(k, "@odata.") || slices.Contains(allowed, k) {
			continue
		}
		return nil, graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("The parameter '%s' in the request payload is not a valid parameter for the operation '%s'.", k, op)), false
	}
	for _, k := range required {
		if v, ok := o[k]; !ok || string(v) == "null" {
			return nil, graphError(http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Missing or null value for the required parameter '%s' of the operation '%s'.", k, op)), false
		}
	}
	return o, reply{}, true
}

// str reads member k as a JSON string ("" when absent).
func (o object) str(k string) (string, reply, bool) {
	raw, ok := o[k]
	if !ok || string(raw) == "null" {
		return "", reply{}, true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.String'.", trimLiteral(raw))), false
	}
	return v, reply{}, true
}

// boolean reads member k as a JSON boolean; a string such as "false" is
// refused, as Edm.Boolean is.
func (o object) boolean(k string) (bool, reply, bool) {
	raw, ok := o[k]
	if !ok || string(raw) == "null" {
		return false, reply{}, true
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.Boolean'.", trimLiteral(raw))), false
	}
	return v, reply{}, true
}

// enum reads member k and checks it against the enum's members (case
// sensitive, as OData enum members are).
func (o object) enum(k, typ string, members []string) (string, reply, bool) {
	v, rep, ok := o.str(k)
	if !ok {
		return "", rep, false
	}
	if _, has := o[k]; has && !slices.Contains(members, v) {
		return "", graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Invalid value '%s' for enum type '%s'.", v, typ)), false
	}
	return v, reply{}, true
}

func trimLiteral(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// Enum members of the schema (reference/graph-csdl/v1.0) that requests may
// carry. unknownFutureValue is a sentinel, not a value to send.
var (
	actionMembers   = []string{"disable", "enable", "forcePasswordReset", "revokeAllSessions", "requireUserToSignInAgain", "markUserAsCompromised"}
	providerMembers = []string{"entraID", "activeDirectory", "okta"}
	severityMembers = []string{"low", "medium", "high"}
	remedyMembers   = []string{"moveToJunk", "moveToInbox", "hardDelete", "softDelete", "moveToDeletedItems"}
)

// odataLiteral matches one OData string literal; ” escapes a quote.
const odataLiteral = `'((?:[^']|'')*)'`

func unquote(s string) string { return strings.ReplaceAll(s, "''", "'") }

var (
	reAccountFilter  = regexp.MustCompile(`^\s*(onPremisesSecurityIdentifier|cloudSecurityIdentifier|displayName)\s+eq\s+` + odataLiteral + `\s*$`)
	reDerivedFilter  = regexp.MustCompile(`^\s*microsoft\.graph\.security\.user/(userPrincipalName|emailAddress)\s+eq\s+` + odataLiteral + `\s*$`)
	reMailFilter     = regexp.MustCompile(`^\s*networkMessageId\s+eq\s+` + odataLiteral + `\s*$`)
	reMailRcptFilter = regexp.MustCompile(`^\s*networkMessageId\s+eq\s+` + odataLiteral +
		`\s+and\s+recipientEmailAddress\s+eq\s+` + odataLiteral + `\s*$`)
)

// pageOf cuts one page out of n items for a list request: $top and
// $skiptoken (an opaque offset) are honoured, and the nextLink repeats the
// request's query with the next $skiptoken, built from the server's own
// URL like Graph's.
func (s *Server) pageOf(r *http.Request, n int) (from, to int, next string, rep reply, ok bool) {
	q := r.URL.Query()
	size := s.pageSize
	if v := q.Get("$top"); v != "" {
		top, err := strconv.Atoi(v)
		if err != nil || top < 1 || top > 999 {
			return 0, 0, "", badRequest("Invalid $top value: " + v), false
		}
		size = min(size, top)
	}
	if v := q.Get("$skiptoken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "offset:") || off < 0 {
			return 0, 0, "", badRequest("Invalid skip token."), false
		}
		from = off
	}
	from = min(from, n)
	to = min(from+size, n)
	if to < n {
		nq := url.Values{}
		for k, vs := range q {
			nq[k] = vs
		}
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(to))))
		next = s.URL() + r.URL.Path + "?" + encodeQuery(nq, "startTime", "endTime", "$filter", "$top", "$skiptoken")
	}
	return from, to, next, reply{}, true
}

// pascal turns a schema enum member into the doc examples' spelling.
func pascal(v string) string {
	if v == "" {
		return v
	}
	return strings.ToUpper(v[:1]) + v[1:]
}
